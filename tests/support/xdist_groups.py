"""Which tests pytest-xdist keeps together in one worker (`make test`: `-n 4 --dist loadgroup`).

Every other test goes to whichever worker is free, one at a time, as with
`--dist load`. The tests of an entry below go to one worker as one unit, in file
order: a file whose tests share a module-scoped fixture (a server, a working
directory the later tests build on), or files that must not run at the same
time (one Chromium at a time; the fault tests, which start, kill and time
clusters of their own).

xdist's own `xdist_group` mark does not work with pytest 9.2 (xdist 3.8 renames
the node ids, which pytest no longer takes: pytest-xdist issue 1386), so the
groups are named here, by path, and `GroupScheduling` reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

__all__ = ["GROUPS", "GroupScheduling", "XdistGroups"]

# A file, or a folder ending in "/", relative to the repository -> its group.
GROUPS: dict[str, str] = {
    # One Chromium at a time: several at once on two cores run into the page
    # timeouts, and they write the same screenshots.
    "tests/web/test_web_browser.py": "chromium",
    "tests/https/test_browser_https.py": "chromium",
    "tests/faults/": "faults",
    # Module-scoped fixtures: the rspamd that takes seconds to start, a server,
    # a working directory that later tests build on (test_cli.py's account).
    "tests/spam/test_rspamd.py": "rspamd",
    "tests/spam/test_spam_cli.py": "spam_cli",
    "tests/cli/test_cli.py": "cli",
    "tests/cli/test_newcomer.py": "newcomer",
    "tests/imap/test_imap_fulltext.py": "imap_fulltext",
    "tests/smtp/test_fuzz_wire.py": "fuzz_wire",
}


def group_of(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    for prefix, group in GROUPS.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return group
    return None


class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """`--dist load` for every test but those of GROUPS: one unit per group."""

    def _split_scope(self, nodeid: str) -> str:
        group = group_of(nodeid)
        return nodeid if group is None else f"group:{group}"


class XdistGroups:
    """The plugin tests/conftest.py registers when xdist is there."""

    def __init__(self, root: Path) -> None:
        missing = [p for p in GROUPS if not (root / p).exists()]
        if missing:
            raise pytest.UsageError(f"tests/support/xdist_groups.py: no such path {missing}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadgroup":
            return None
        return GroupScheduling(config, log)
