"""Dialogs: they collect and validate input and return a value object.

They never call the core; the caller does and shows core-side errors back.
"""
