"""Fixtures for list tests: the outbound tests' SMTP sink (remote members'
copies, confirmations) and their in-memory keyring."""

from __future__ import annotations

from tests.integration.outbound.conftest import memory_keyring, sink

__all__ = ["memory_keyring", "sink"]
