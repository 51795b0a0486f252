"""Shared by the Maildir store's tests: where the store's root is."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "data" / "mail"
