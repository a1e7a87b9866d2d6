"""Maildir++ and mbox: mail files read for import and written by export.

Maildir++ as Dovecot writes it: the root's cur/new is INBOX, `.Sub.Folder` a
folder (names in modified UTF-7), flags in the `:2,DFPRST` info suffix of the
file name, keywords as letters a-z listed in `dovecot-keywords`, the internal
date as the file's mtime. Thunderbird's maildir layout (a directory per folder,
children in `Name.sbd/`) is read too.

mbox as mboxrd: a `From ` line opens each message, body lines matching
`>*From ` get one more `>` (and lose one when read), a blank line closes it.
Flags travel in `Status:` (R: seen), `X-Status:` (A answered, F flagged,
T draft, D deleted) and `X-Keywords:` headers: export adds them to the header
and import takes them out again, so a round trip gives back the same bytes;
Thunderbird's `X-Mozilla-Status` is read where present. A directory of mbox
files is read the way Thunderbird keeps them (`Name`, children in `Name.sbd/`).
"""

from __future__ import annotations

import calendar
import io
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from postfach.moving.folders import special_use_of
from postfach.moving.target import Item
from postfach.mutf7 import decode_mutf7, encode_mutf7

__all__ = [
    "FileFolder",
    "maildir_folders",
    "maildir_keywords",
    "mbox_folders",
    "write_maildir",
    "write_mbox",
]

_MAILDIR_FLAGS = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "P": "$Forwarded",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_MAILDIR_LETTERS = {flag: letter for letter, flag in _MAILDIR_FLAGS.items()}
_X_STATUS = {"A": "\\Answered", "F": "\\Flagged", "T": "\\Draft", "D": "\\Deleted"}
_X_STATUS_LETTERS = {flag: letter for letter, flag in _X_STATUS.items()}
_FROM_DATE = re.compile(rb"(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})")
_QUOTED_FROM = re.compile(rb"^>+From ")
_NEEDS_QUOTE = re.compile(rb"^>*From ")
_FLAG_HEADERS = re.compile(rb"^(status|x-status|x-keywords):", re.IGNORECASE)
_MOZILLA = re.compile(rb"^x-mozilla-status: *([0-9a-f]{4})", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FileFolder:
    """One folder found in files: our name for it, its special use, its messages."""

    name: str
    special_use: str | None
    paths: tuple[Path, ...]  # maildir: one file per message; mbox: the one file
    kind: str  # "maildir" or "mbox"

    @property
    def octets(self) -> int:
        return sum(path.stat().st_size for path in self.paths)

    def count(self) -> int:
        if self.kind == "maildir":
            return len(self.paths)
        return sum(1 for _ in _mbox_chunks(self.paths[0]))

    def messages(self) -> Iterator[Item]:
        if self.kind == "maildir":
            keywords = _dovecot_keywords(self.paths[0].parent.parent) if self.paths else {}
            for path in self.paths:
                yield _maildir_item(path, keywords)
        else:
            for chunk in _mbox_chunks(self.paths[0]):
                yield _mbox_item(chunk)


def _folder(name: str, kind: str, paths: Sequence[Path]) -> FileFolder:
    special = None if name == "INBOX" else special_use_of(name, "/", frozenset())
    return FileFolder(name, special, tuple(paths), kind)


# -- Maildir ----------------------------------------------------------------


def maildir_folders(root: Path) -> list[FileFolder]:
    """The folders of a Maildir++ (or Thunderbird maildir) tree, INBOX first."""
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    found: list[FileFolder] = []
    if (root / "cur").is_dir():
        found.append(_folder("INBOX", "maildir", _maildir_files(root)))
    for entry in sorted(root.iterdir()):
        if not entry.is_dir() or not (entry / "cur").is_dir():
            continue
        if entry.name.startswith("."):
            name = "/".join(_decode(part) for part in entry.name[1:].split(".") if part)
            found.append(_folder(name, "maildir", _maildir_files(entry)))
    found.extend(_thunderbird_maildirs(root, ""))
    if not found:
        raise ValueError(f"{root}: no maildir here (no cur/ directory)")
    return found


def _thunderbird_maildirs(directory: Path, parent: str) -> list[FileFolder]:
    found: list[FileFolder] = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir() or entry.name in {"cur", "new", "tmp"}:
            continue
        if (entry / "cur").is_dir():
            name = parent + (
                "INBOX" if entry.name.lower() == "inbox" and not parent else entry.name
            )
            found.append(_folder(name, "maildir", _maildir_files(entry)))
        elif entry.name.endswith(".sbd"):
            found.extend(_thunderbird_maildirs(entry, parent + entry.name[:-4] + "/"))
    return found


def _decode(part: str) -> str:
    try:
        return decode_mutf7(part)
    except ValueError:
        return part


def _maildir_files(folder: Path) -> list[Path]:
    files = [
        p
        for sub in ("cur", "new")
        if (folder / sub).is_dir()
        for p in (folder / sub).iterdir()
        if p.is_file()
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def _dovecot_keywords(folder: Path) -> dict[str, str]:
    """dovecot-keywords: `0 $Label1` lines; letter a is keyword 0."""
    path = folder / "dovecot-keywords"
    if not path.is_file():
        return {}
    letters: dict[str, str] = {}
    for line in path.read_text("utf-8", "replace").splitlines():
        number, _, keyword = line.partition(" ")
        if number.isdigit() and int(number) < 26 and keyword:
            letters[chr(ord("a") + int(number))] = keyword
    return letters


def _maildir_item(path: Path, keywords: dict[str, str]) -> Item:
    info = path.name.rpartition(":2,")[2] if ":2," in path.name else ""
    flags = {_MAILDIR_FLAGS[c] for c in info if c in _MAILDIR_FLAGS}
    flags |= {keywords[c] for c in info if c in keywords}
    return Item(path.read_bytes(), frozenset(flags), path.stat().st_mtime)


def maildir_keywords(flag_sets: Iterable[frozenset[str]]) -> list[str]:
    """The keywords a folder's dovecot-keywords lists (26 at most: letters a-z)."""
    found = {f for flags in flag_sets for f in flags if not f.startswith("\\")}
    return sorted(found - set(_MAILDIR_LETTERS))[:26]


def write_maildir(
    root: Path,
    folder: str,
    messages: Sequence[Item],
    keywords: Sequence[str] | None = None,
    start: int = 0,
) -> None:
    """Writes one of our folders into a Maildir++ tree (INBOX at the root); a large
    folder in several calls, `start` counting the messages already written and
    `keywords` (maildir_keywords of the whole folder) the same in each."""
    if folder == "INBOX":
        directory = root
    else:
        directory = root / (
            "." + ".".join(encode_mutf7(p).replace(".", "_") for p in folder.split("/"))
        )
    for sub in ("cur", "new", "tmp"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    if keywords is None:
        keywords = maildir_keywords(m.flags for m in messages)
    letters = {keyword: chr(ord("a") + n) for n, keyword in enumerate(keywords)}
    if keywords and start == 0:
        lines = "".join(f"{n} {keyword}\n" for n, keyword in enumerate(keywords))
        (directory / "dovecot-keywords").write_text(lines, "utf-8")
    host = socket.gethostname().replace("/", "_").replace(":", "_")
    for number, item in enumerate(messages, start):
        info = "".join(
            sorted(
                [_MAILDIR_LETTERS[f] for f in item.flags if f in _MAILDIR_LETTERS]
                + [letters[f] for f in item.flags if f in letters]
            )
        )
        date = item.internaldate if item.internaldate is not None else time.time()
        name = f"{int(date)}.P{os.getpid()}Q{number}.{host},S={len(item.raw)}:2,{info}"
        temporary = directory / "tmp" / name
        temporary.write_bytes(item.raw)
        os.utime(temporary, (date, date))
        temporary.rename(directory / "cur" / name)


# -- mbox -------------------------------------------------------------------


def mbox_folders(path: Path) -> list[FileFolder]:
    """One mbox file (as INBOX), or a Thunderbird-style directory of them."""
    if path.is_file():
        return [_folder("INBOX", "mbox", [path])]
    if not path.is_dir():
        raise ValueError(f"{path}: no such file or directory")
    found = _mbox_directory(path, "")
    if not found:
        raise ValueError(f"{path}: no mbox files here")
    return found


def _mbox_directory(directory: Path, parent: str) -> list[FileFolder]:
    found: list[FileFolder] = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and entry.name.endswith(".sbd"):
            found.extend(_mbox_directory(entry, parent + entry.name[:-4] + "/"))
        elif entry.is_file() and entry.suffix not in {".msf", ".dat", ".json", ".sqlite"}:
            head = entry.open("rb").read(5)
            if head not in {b"From ", b""}:
                continue
            leaf = entry.name[:-5] if entry.name.endswith(".mbox") else entry.name
            name = parent + ("INBOX" if leaf.lower() == "inbox" and not parent else leaf)
            found.append(_folder(name, "mbox", [entry]))
    return found


def _mbox_chunks(path: Path) -> Iterator[tuple[bytes, list[bytes]]]:
    """(From line, message lines) per message, read line by line (an mbox may be
    larger than memory); the blank line closing each message is dropped. A
    `From ` line opens a message only after a blank line (or first in the file)."""
    from_line: bytes | None = None
    body: list[bytes] = []
    after_blank = True
    with path.open("rb") as lines:  # lines end at \n only, as the writer splits them
        for line in lines:
            if after_blank and line.startswith(b"From "):
                if from_line is not None:
                    yield from_line, _without_separator(body)
                from_line, body = line, []
            elif from_line is not None:
                body.append(line)
            after_blank = line in {b"\n", b"\r\n"}
    if from_line is not None:
        yield from_line, _without_separator(body)


def _without_separator(body: list[bytes]) -> list[bytes]:
    return body[:-1] if body and body[-1] in {b"\n", b"\r\n"} else body


def _header_end(raw: bytes) -> int:
    """Where the header block ends (just after its last line's line break)."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    if not ends:
        return len(raw)
    first = min(ends)
    return first + (2 if raw[first : first + 2] == b"\r\n" else 1)


def _mbox_item(chunk: tuple[bytes, list[bytes]]) -> Item:
    from_line, lines = chunk
    raw = b"".join(line[1:] if _QUOTED_FROM.match(line) else line for line in lines)
    end = _header_end(raw)
    header, body = raw[:end], raw[end:]
    flags: set[str] = set()
    kept: list[bytes] = []
    for line in header.splitlines(keepends=True):
        match = _FLAG_HEADERS.match(line)
        if match is None:
            kept.append(line)
            continue
        name = match.group(1).lower()
        value = line.split(b":", 1)[1].decode("utf-8", "replace")
        if name == b"status" and "R" in value:
            flags.add("\\Seen")
        elif name == b"x-status":
            flags |= {_X_STATUS[c] for c in value if c in _X_STATUS}
        elif name == b"x-keywords":
            flags |= {k for k in re.split(r"[\s,]+", value) if k}
    mozilla = _MOZILLA.search(header)
    if mozilla is not None:
        bits = int(mozilla.group(1), 16)
        flags |= {
            f
            for bit, f in ((1, "\\Seen"), (2, "\\Answered"), (4, "\\Flagged"), (8, "\\Deleted"))
            if bits & bit
        }
    date = _FROM_DATE.search(from_line)
    internaldate = (
        float(
            calendar.timegm(
                time.strptime(date.group(1).decode().replace("  ", " 0"), "%a %b %d %H:%M:%S %Y")
            )
        )
        if date
        else None
    )
    return Item(b"".join(kept) + body, frozenset(flags), internaldate)


def _flag_headers(flags: frozenset[str], newline: bytes) -> bytes:
    lines = b""
    if "\\Seen" in flags:
        lines += b"Status: RO" + newline
    x_status = "".join(sorted(_X_STATUS_LETTERS[f] for f in flags if f in _X_STATUS_LETTERS))
    if x_status:
        lines += b"X-Status: " + x_status.encode() + newline
    keywords = sorted(f for f in flags if not f.startswith("\\"))
    if keywords:
        lines += b"X-Keywords: " + " ".join(keywords).encode() + newline
    return lines


def write_mbox(root: Path, folder: str, messages: Sequence[Item], append: bool = False) -> None:
    """Writes one of our folders as an mbox file, Thunderbird's layout (`A.sbd/B`);
    a large folder in several calls, each after the first with `append`."""
    parts = folder.split("/")
    path = root.joinpath(*(part + ".sbd" for part in parts[:-1]), parts[-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab" if append else "wb") as out:
        for item in messages:
            date = item.internaldate if item.internaldate is not None else time.time()
            out.write(b"From MAILER-DAEMON " + time.asctime(time.gmtime(date)).encode() + b"\n")
            end = _header_end(item.raw)
            newline = b"\r\n" if b"\r\n" in item.raw[:end] else b"\n"
            raw = item.raw[:end] + _flag_headers(item.flags, newline) + item.raw[end:]
            for line in io.BytesIO(raw):  # split at \n only, as the reader does
                out.write(b">" + line if _NEEDS_QUOTE.match(line) else line)
            if not raw.endswith(b"\n"):
                out.write(b"\n")
            out.write(b"\n")
