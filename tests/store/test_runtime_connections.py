"""Open connections per address in the runtime file the workers share
(store/runtime.py): the limit holds across workers, a close frees its slot, and
a closed address leaves no row behind while the others keep theirs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from postfach.store.runtime import RuntimeState


def test_the_limit_holds_across_workers_and_closes_free_it(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    RuntimeState.create(path)
    first, second = RuntimeState(path, 0), RuntimeState(path, 1)
    try:
        assert first.connection_opened("imap", "192.0.2.1", 3)
        assert second.connection_opened("imap", "192.0.2.1", 3)
        assert first.connection_opened("imap", "192.0.2.1", 3)
        assert not second.connection_opened("imap", "192.0.2.1", 3)
        assert second.connection_opened("pop3", "192.0.2.1", 3)  # another listener
        assert second.connection_opened("imap", "198.51.100.7", 3)  # another address
        first.connection_closed("imap", "192.0.2.1")
        assert second.connection_opened("imap", "192.0.2.1", 3)
        for state in (first, second, second):
            state.connection_closed("imap", "192.0.2.1")
        second.connection_closed("pop3", "192.0.2.1")
    finally:
        first.close()
        second.close()
    with sqlite3.connect(path) as check:
        rows = check.execute("SELECT listener, ip, worker, n FROM connections").fetchall()
    assert rows == [("imap", "198.51.100.7", 1, 1)]
