"""The IMAP lexer: a cursor over one complete command (RFC 9051 §9 ABNF tokens).

Atoms, numbers, quoted strings with escapes, literals (inline, after framing),
astrings, mailbox names (modified UTF-7 or UTF-8), sequence sets and flags.
Every method raises `BadSyntax` on a mismatch; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from postfach.imap.grammar import SeqSet, decode_mutf7, parse_seqset

__all__ = ["ASTRING_STOP", "ATOM_STOP", "NO_MAILBOX", "BadSyntax", "Cursor"]


class BadSyntax(Exception):
    """Malformed input: answered with `tag BAD reason` (or `* BAD` without a tag)."""

    def __init__(self, tag: str | None, reason: str, refused: bool = False) -> None:
        super().__init__(reason)
        self.tag = tag
        self.reason = reason
        # well-formed, but naming nothing that can exist: answered with NO, as Dovecot does
        self.refused = refused


ATOM_STOP = frozenset(b'(){ %*"\\]') | frozenset(range(0x20)) | {0x7F}
ASTRING_STOP = ATOM_STOP - {ord("]")}
LIST_STOP = ASTRING_STOP - {ord("%"), ord("*")}
# A LIST pattern that is not valid modified UTF-7 matches no mailbox (Dovecot: OK,
# nothing listed); no mailbox name holds a NUL.
NO_MAILBOX = "\0"


class Cursor:
    """Position in one complete command; every method raises BadSyntax on mismatch."""

    __slots__ = ("buf", "pos", "tag", "utf8")

    def __init__(self, buf: bytes, utf8: bool) -> None:
        self.buf = buf
        self.pos = 0
        self.tag: str | None = None
        self.utf8 = utf8

    def fail(self, reason: str) -> BadSyntax:
        return BadSyntax(self.tag, reason)

    def peek(self) -> int:
        return self.buf[self.pos] if self.pos < len(self.buf) else -1

    def at(self, text: bytes) -> bool:
        return self.buf[self.pos : self.pos + len(text)].upper() == text

    def take(self, text: bytes) -> bool:
        if self.at(text):
            self.pos += len(text)
            return True
        return False

    def expect(self, text: bytes, what: str = "") -> None:
        if not self.take(text):
            raise self.fail(f"expected {what or text.decode()!r}")

    def sp(self) -> None:
        if not self.take(b" "):
            raise self.fail("expected a space")

    def at_end(self) -> bool:
        return self.buf[self.pos :] in (b"\r\n", b"\n", b"")

    def end(self) -> None:
        if not self.at_end():
            raise self.fail("unexpected characters at end of command")

    def run(self, stop: frozenset[int]) -> bytes:
        start = self.pos
        buf = self.buf
        end = len(buf)
        pos = start
        while pos < end and buf[pos] not in stop:
            pos += 1
        self.pos = pos
        return buf[start:pos]

    def atom(self, what: str = "atom") -> str:
        raw = self.run(ATOM_STOP)
        if not raw:
            raise self.fail(f"expected {what}")
        return raw.decode("utf-8", "replace")

    def number(self, nonzero: bool = False, limit: int = 0xFFFFFFFF) -> int:
        raw = self.run(ATOM_STOP)
        if not raw.isdigit() or not raw.isascii():
            raise self.fail("expected a number")
        value = int(raw)
        if value > limit or (nonzero and value == 0):
            raise self.fail("number out of range")
        return value

    def digits(self, nonzero: bool = False, limit: int = 0xFFFFFFFF) -> int:
        """A number made of the digits at the cursor, whatever follows them."""
        start = self.pos
        buf = self.buf
        while self.pos < len(buf) and 0x30 <= buf[self.pos] <= 0x39:
            self.pos += 1
        if self.pos == start or self.pos - start > 20:
            raise self.fail("expected a number")
        value = int(buf[start : self.pos])
        if value > limit or (nonzero and value == 0):
            raise self.fail("number out of range")
        return value

    def quoted(self) -> bytes:
        self.expect(b'"')
        out = bytearray()
        buf = self.buf
        while True:
            if self.pos >= len(buf):
                raise self.fail("unterminated quoted string")
            ch = buf[self.pos]
            self.pos += 1
            if ch == 0x22:
                return bytes(out)
            if ch in (0x0D, 0x0A, 0):
                raise self.fail("line break in quoted string")
            if ch == 0x5C:
                if self.pos >= len(buf) or buf[self.pos] not in b'"\\':
                    raise self.fail("invalid escape in quoted string")
                ch = buf[self.pos]
                self.pos += 1
            out.append(ch)

    def literal(self) -> bytes:
        """`{n}` or RFC 3516 literal8 `~{n}`; only the latter may carry NUL (RFC 9051
        ABNF "literal" is CHAR8, any octet but NUL)."""
        binary = self.take(b"~")
        self.expect(b"{")
        size = self.digits(limit=1 << 40)
        self.take(b"+")
        self.expect(b"}")
        if not self.take(b"\r\n") and not self.take(b"\n"):
            raise self.fail("expected CRLF after literal size")
        data = self.buf[self.pos : self.pos + size]
        if len(data) != size:
            raise self.fail("literal shorter than announced")
        if not binary and b"\0" in data:
            raise self.fail("NUL in a literal; binary content goes in a literal8 ~{n}")
        self.pos += size
        return data

    def at_string(self) -> bool:
        """A quoted string or a literal starts here; `~` alone is an ATOM-CHAR
        (RFC 3501 §9), only `~{` opens an RFC 3516 literal8."""
        ch = self.peek()
        return ch in (0x22, 0x7B) or (ch == 0x7E and self.buf[self.pos + 1 : self.pos + 2] == b"{")

    def string(self) -> bytes:
        ch = self.peek()
        if ch == 0x22:
            return self.quoted()
        if self.at_string():
            return self.literal()
        raise self.fail("expected a string")

    def astring_bytes(self) -> bytes:
        if self.at_string():
            return self.string()
        raw = self.run(ASTRING_STOP)
        if not raw:
            raise self.fail("expected an atom or string")
        return raw

    def astring(self) -> str:
        return self.astring_bytes().decode("utf-8", "replace")

    def nstring(self) -> str | None:
        if self.take(b"NIL"):
            return None
        return self.string().decode("utf-8", "replace")

    def mailbox(self) -> str:
        return self.mailbox_name(self.astring_bytes())

    def list_mailbox(self) -> str:
        if self.at_string():
            return self.mailbox_name(self.string(), pattern=True)
        raw = self.run(LIST_STOP)
        if not raw:
            raise self.fail("expected a mailbox pattern")
        return self.mailbox_name(raw, pattern=True)

    def mailbox_name(self, raw: bytes, pattern: bool = False) -> str:
        """RFC 3501 §5.1.3 modified UTF-7, or UTF-8 under UTF8=ACCEPT / IMAP4rev2.

        A name that is syntactically an astring but not valid modified UTF-7 is
        no syntax error: no such mailbox can exist (NO, as Dovecot answers), and
        as a LIST pattern it matches nothing."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("mailbox name is not valid UTF-8") from None
        if not self.utf8 and text.isascii():
            try:
                text = decode_mutf7(text)
            except ValueError:
                if pattern:
                    return NO_MAILBOX
                reason = "mailbox name is not valid modified UTF-7"
                raise BadSyntax(self.tag, reason, refused=True) from None
        return "INBOX" if text.upper() == "INBOX" else text

    def seqset(self) -> SeqSet:
        raw = self.run(ATOM_STOP - {ord("*")})
        try:
            return parse_seqset(raw.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise self.fail("invalid sequence set") from None

    def paren_list(self, item: Callable[[], str]) -> list[str]:
        """`(a b c)` with items read by `item`; empty lists allowed."""
        self.expect(b"(")
        out: list[str] = []
        if self.take(b")"):
            return out
        while True:
            out.append(item())
            if self.take(b")"):
                return out
            self.sp()

    def flag(self) -> str:
        if self.take(b"\\"):
            if self.take(b"*"):
                return "\\*"
            return "\\" + _canonical_flag(self.atom("flag"))
        return self.atom("flag")

    def flag_list(self) -> frozenset[str]:
        return frozenset(self.paren_list(self.flag))

    def check_system_flags(self, flags: frozenset[str]) -> None:
        """RFC 9051 §2.3.2: only the defined system flags exist (flag-extension is
        for future RFCs); STORE and APPEND with another are BAD, as in Dovecot."""
        for flag in flags:
            if flag.startswith("\\") and flag not in STORABLE_SYSTEM_FLAGS:
                raise self.fail(f"Invalid system flag {flag[:40]}")


STORABLE_SYSTEM_FLAGS = frozenset({"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"})
_SYSTEM_FLAGS = {
    f.lower(): f for f in ("Seen", "Answered", "Flagged", "Deleted", "Draft", "Recent")
}


def _canonical_flag(name: str) -> str:
    return _SYSTEM_FLAGS.get(name.lower(), name)
