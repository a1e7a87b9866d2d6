"""The other IMAP server, through imaplib, one blocking call at a time.

imaplib is the standard library's client: kept with Python, with SSL and
STARTTLS, and it reads literals of any size. The async IMAP libraries on PyPI
(aioimaplib) are a one-person project with a thinner command set; an import
spends its time on the wire and in the store, not in switching threads, so
imap_import.py runs each call here in a worker thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from postfach.mutf7 import decode_mutf7

__all__ = ["ImapSource", "SourceFolder", "SourceMessage", "SourceError", "uid_set"]


class SourceError(Exception):
    """The source server refused or failed; the message is for the user."""


@dataclass(frozen=True, slots=True)
class SourceFolder:
    wire_name: str  # as the server spells it (modified UTF-7)
    name: str  # decoded
    delimiter: str | None
    attributes: frozenset[str]

    @property
    def selectable(self) -> bool:
        return not {"\\noselect", "\\nonexistent"} & {a.lower() for a in self.attributes}


@dataclass(frozen=True, slots=True)
class SourceMessage:
    uid: int
    flags: frozenset[str]
    internaldate: float
    size: int


_LIST = re.compile(rb'^\((?P<attrs>[^)]*)\) (?P<delim>"(?:\\.|[^"])*"|NIL) (?P<name>.*)$')
_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_DATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_UIDVALIDITY = re.compile(rb"\d+")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _unquote(text: bytes) -> str:
    if text.startswith(b'"') and text.endswith(b'"'):
        text = re.sub(rb"\\(.)", rb"\1", text[1:-1])
    return text.decode("utf-8", "replace")


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_internaldate(text: str) -> float:
    """`06-Dec-2026 16:58:26 +0000` (day perhaps space-padded) to Unix time."""
    day, month, rest = text.strip().split("-", 2)
    clock = f"{int(day):02d}-{_MONTHS[month.title()]:02d}-{rest}"
    return datetime.strptime(clock, "%d-%m-%Y %H:%M:%S %z").timestamp()


def uid_set(uids: Iterable[int]) -> str:
    """1,2,3,7 → 1:3,7"""
    ranges: list[str] = []
    run: list[int] = []
    for uid in sorted(uids):
        if run and uid == run[-1] + 1:
            run.append(uid)
            continue
        if run:
            ranges.append(f"{run[0]}:{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [uid]
    if run:
        ranges.append(f"{run[0]}:{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(ranges)


class ImapSource:
    """One logged-in connection to the source server; every method blocks."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        user: str,
        password: str,
        *,
        verify: bool = True,
        timeout: float = 120.0,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.user = user
        self._password = password
        self._verify = verify
        self._timeout = timeout
        self._imap: imaplib.IMAP4 | None = None
        self._exists = -1  # messages in the selected folder; -1: not known

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self._verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def connect(self) -> None:
        try:
            if self.security == "ssl":
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=self._tls(), timeout=self._timeout
                )
            else:
                imap = imaplib.IMAP4(self.host, self.port, timeout=self._timeout)
                if self.security == "starttls":
                    imap.starttls(self._tls())
            imap.login(self.user, self._password)
        except imaplib.IMAP4.error as exc:
            raise SourceError(f"{self.host}:{self.port} refused: {_text(exc)}") from None
        except (OSError, ssl.SSLError) as exc:
            raise SourceError(f"cannot reach {self.host}:{self.port}: {exc}") from None
        self._password = ""  # not kept longer than needed
        self._imap = imap

    @property
    def imap(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise SourceError("not connected")
        return self._imap

    def close(self) -> None:
        if self._imap is not None:
            try:
                self._imap.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
            self._imap = None

    def folders(self) -> list[SourceFolder]:
        """Every folder, with special-use attributes where the server has them."""
        imap = self.imap
        capabilities = {c.upper() for c in imap.capabilities}
        if "SPECIAL-USE" in capabilities:
            typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
            typ, data = imap._untagged_response(typ, data, "LIST")
        elif "XLIST" in capabilities:
            typ, data = imap._simple_command("XLIST", '""', '"*"')
            typ, data = imap._untagged_response(typ, data, "XLIST")
        else:
            typ, data = imap.list()
        _check(typ, data, "LIST")
        return [folder for folder in (_folder(line) for line in data) if folder is not None]

    def select(self, folder: SourceFolder) -> int:
        """EXAMINEs the folder (read-only: \\Seen stays as it was); its UIDVALIDITY."""
        typ, data = self.imap.select(_quote(folder.wire_name), readonly=True)
        _check(typ, data, f"EXAMINE {folder.name}")
        first = data[0] if data else b""
        self._exists = int(first) if isinstance(first, bytes) and first.isdigit() else -1
        typ, data = self.imap.response("UIDVALIDITY")
        match = _UIDVALIDITY.search(data[0] or b"") if data and data[0] else None
        if match is None:
            raise SourceError(f"{folder.name}: the server sent no UIDVALIDITY")
        return int(match.group())

    def listing(self) -> list[SourceMessage]:
        """UID, flags, internal date and size of every message of the selected folder."""
        if self._exists == 0:
            return []  # some servers answer "1:*" in an empty folder with NO
        typ, data = self.imap.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE)")
        _check(typ, data, "FETCH")
        messages: dict[int, SourceMessage] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if not line:
                continue
            uid, flags, date, size = (
                _UID.search(line),
                _FLAGS.search(line),
                _DATE.search(line),
                _SIZE.search(line),
            )
            if uid is None or date is None or size is None:
                continue  # an unsolicited FETCH (a flag change by someone else)
            messages[int(uid.group(1))] = SourceMessage(
                int(uid.group(1)),
                frozenset(flags.group(1).decode("utf-8", "replace").split())
                if flags
                else frozenset(),
                parse_internaldate(date.group(1).decode()),
                int(size.group(1)),
            )
        return [messages[uid] for uid in sorted(messages)]

    def bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The exact bytes of messages of the selected folder, by UID."""
        typ, data = self.imap.uid("FETCH", uid_set(uids), "(UID BODY.PEEK[])")
        _check(typ, data, "FETCH")
        bodies: dict[int, bytes] = {}
        for index, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            head, literal = item
            match = _UID.search(head)
            if match is None and index + 1 < len(data):  # UID sent after the literal
                after = data[index + 1]
                match = _UID.search(after if isinstance(after, bytes) else b"")
            if match is not None:
                bodies[int(match.group(1))] = literal
        return bodies


def _folder(line: bytes | tuple[bytes, bytes] | None) -> SourceFolder | None:
    if line is None:
        return None
    if isinstance(line, tuple):  # the name came as a literal
        head, literal = line
        line = head[: head.rfind(b"{")] + b'"' + literal.replace(b'"', b'\\"') + b'"'
    match = _LIST.match(line)
    if match is None:
        return None
    delimiter = None if match["delim"] == b"NIL" else _unquote(match["delim"])
    wire = _unquote(match["name"].strip())
    try:
        name = decode_mutf7(wire)
    except ValueError:
        name = wire
    attributes = frozenset(match["attrs"].decode("ascii", "replace").split())
    return SourceFolder(wire, name, delimiter, attributes)


def _text(exc: BaseException) -> str:
    text = str(exc.args[0] if exc.args else exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text


def _check(typ: str, data: Sequence[object], what: str) -> None:
    if typ != "OK":
        detail = data[0] if data else b""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise SourceError(f"{what} failed: {detail}")
