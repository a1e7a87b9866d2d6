"""The other side's folders mapped to ours (pure), and the quota kept by imports."""

from __future__ import annotations

from pathlib import Path

from tests.moving.support import cli, installation, message, ok

from postfach.moving.files import write_maildir
from postfach.moving.folders import special_use_of, target_name
from postfach.moving.target import Item


def test_special_uses_come_from_attributes_xlist_and_common_names() -> None:
    assert special_use_of("Gesendet", "/", frozenset({"\\HasNoChildren", "\\Sent"})) == "\\Sent"
    assert special_use_of("[Gmail]/Spam", "/", frozenset({"\\Spam"})) == "\\Junk"
    assert special_use_of("[Gmail]/All Mail", "/", frozenset({"\\AllMail"})) == "\\All"
    assert special_use_of("[Gmail]/Sent Mail", "/", frozenset()) == "\\Sent"
    assert special_use_of("INBOX.Deleted Messages", ".", frozenset()) == "\\Trash"
    assert special_use_of("Sent Items", None, frozenset()) == "\\Sent"
    assert special_use_of("Junk E-mail", "/", frozenset()) == "\\Junk"
    assert special_use_of("Projects/Sent", "/", frozenset()) is None
    assert special_use_of("INBOX", "/", frozenset()) is None
    assert special_use_of("Receipts", "/", frozenset()) is None


def test_folder_names_keep_their_hierarchy_in_ours() -> None:
    assert target_name("inbox", "/") == "INBOX"
    assert target_name("INBOX.Lists.Python", ".") == "Lists/Python"
    assert target_name("Lists.Py/thon", ".") == "Lists/Py_thon"
    assert target_name("INBOX/Sub", "/") == "INBOX/Sub"
    assert target_name("Flat", None) == "Flat"


def test_an_import_over_the_quota_stops_with_one_line(tmp_path: Path) -> None:
    installation(tmp_path, "q@example.org")
    ok(tmp_path, "user", "set", "q@example.org", "quota=20K")
    items = [Item(message("INBOX", n, 3000), frozenset(), 1_700_000_000.0 + n) for n in range(20)]
    write_maildir(tmp_path / "Maildir", "INBOX", items)
    result = cli(tmp_path, "import", "maildir", "q@example.org", "Maildir")
    assert result.returncode == 1
    assert result.stderr.strip() == "postfach: q@example.org is over its quota; import stopped"
