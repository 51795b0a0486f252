from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.imap.harness import Client, ImapTestServer


@pytest.fixture
def imap_server(tmp_path: Path) -> Iterator[ImapTestServer]:
    server = ImapTestServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def maildir_server(tmp_path: Path) -> Iterator[ImapTestServer]:
    server = ImapTestServer(tmp_path, store_kind="maildir").start()
    yield server
    server.stop()


@pytest.fixture
def client(imap_server: ImapTestServer) -> Iterator[Client]:
    """A raw client of ``imap_server``, not logged in."""
    c = Client(imap_server.port)
    yield c
    c.close()
