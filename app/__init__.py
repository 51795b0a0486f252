"""Quicksilver's PySide6 front end: the only package that imports Qt.

PySide6-Essentials 6.12.0 on CPython 3.11 drops references to ``None``/``True``
on ``processEvents``/``emit`` and aborts the interpreter ("none_dealloc"), so
``pyproject.toml`` keeps Python 3.11 on 6.11.x.
"""
