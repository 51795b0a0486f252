"""Fixtures for Sieve delivery tests: the outbound tests' SMTP sink (which
catches what the core sends through ``relay``) and their in-memory keyring."""

from __future__ import annotations

from tests.integration.outbound.conftest import memory_keyring, sink

__all__ = ["memory_keyring", "sink"]
