"""Fixtures shared by the integration tests at this level."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningCore, start_core


@pytest.fixture
def core3(tmp_path: Path) -> Iterator[RunningCore]:
    c = start_core(tmp_path / "data", enabled=("smtp", "pop3", "imap"))
    try:
        yield c
    finally:
        c.runtime.stop()
