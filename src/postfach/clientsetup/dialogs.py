"""The few commands a mail program sends, per protocol, and what the replies mean.

Each dialog speaks just enough of its protocol to greet, list capabilities,
upgrade with STARTTLS, log in and (SMTP) try MAIL FROM: IMAP4 (RFC 9051 §6.1.1
CAPABILITY, §6.2.1 STARTTLS, §6.2.2 AUTHENTICATE), POP3 (RFC 1939, RFC 2449
CAPA, RFC 2595 STLS, RFC 5034 AUTH), SMTP (RFC 5321, RFC 3207, RFC 4954).

`classify_login` is pure: it turns the server's words into a `Verdict`, for
our own servers and for the texts the big providers are known to send.
"""

from __future__ import annotations

import base64
import enum
import re
from dataclasses import dataclass, field
from typing import Protocol

from postfach.clientsetup.conn import LineConn, ProtocolTrouble

__all__ = [
    "DIALOGS",
    "Dialog",
    "Reply",
    "Verdict",
    "classify_login",
    "spoken_protocol",
]


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    text: str  # the server's final line, as it sent it
    code: int = 0  # SMTP reply code; 0 for IMAP and POP3
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Caps:
    names: frozenset[str] = field(default_factory=frozenset)  # upper case: "STARTTLS", "AUTH=PLAIN"
    text: str = ""  # for the report


class Dialog(Protocol):
    name: str

    def greeting_ok(self, line: str) -> bool: ...
    async def greeting(self, conn: LineConn) -> Reply: ...
    async def capabilities(self, conn: LineConn) -> Caps: ...
    def starttls_offered(self, caps: Caps) -> bool: ...
    def login_offered(self, caps: Caps) -> bool: ...
    async def starttls(self, conn: LineConn) -> Reply: ...
    async def login(self, conn: LineConn, user: str, password: str, caps: Caps) -> Reply: ...
    async def quit(self, conn: LineConn) -> None: ...


def _quoted(text: str) -> str:
    """RFC 9051 §4.3 quoted string: backslash and double quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(user: str, password: str) -> str:
    """RFC 4616 PLAIN: authzid NUL authcid NUL passwd, base64."""
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


# -- IMAP ------------------------------------------------------------------------------


class ImapDialog:
    name = "IMAP"

    def __init__(self) -> None:
        self._tag = 0

    def greeting_ok(self, line: str) -> bool:
        return line.upper().startswith(("* OK", "* PREAUTH"))

    async def greeting(self, conn: LineConn) -> Reply:
        line = await conn.read_line()
        return Reply(self.greeting_ok(line), line, lines=(line,))

    async def _command(self, conn: LineConn, command: str) -> Reply:
        self._tag += 1
        tag = f"d{self._tag}"
        await conn.send(f"{tag} {command}")
        lines = []
        while True:
            line = await conn.read_line()
            lines.append(line)
            if line.startswith(f"{tag} "):
                ok = line[len(tag) + 1 :].upper().startswith("OK")
                return Reply(ok, line, lines=tuple(lines))
            if line.startswith("+") and command.startswith("AUTHENTICATE"):
                await conn.send("*")  # a challenge we did not expect: cancel (RFC 9051 §6.2.2)

    async def capabilities(self, conn: LineConn) -> Caps:
        reply = await self._command(conn, "CAPABILITY")
        names: set[str] = set()
        for line in reply.lines:
            if line.upper().startswith("* CAPABILITY "):
                names.update(line[13:].upper().split())
        return Caps(frozenset(names), " ".join(sorted(names)))

    def starttls_offered(self, caps: Caps) -> bool:
        return "STARTTLS" in caps.names

    def login_offered(self, caps: Caps) -> bool:
        return "LOGINDISABLED" not in caps.names

    async def starttls(self, conn: LineConn) -> Reply:
        return await self._command(conn, "STARTTLS")

    async def login(self, conn: LineConn, user: str, password: str, caps: Caps) -> Reply:
        if "AUTH=PLAIN" in caps.names and "SASL-IR" in caps.names:
            return await self._command(conn, f"AUTHENTICATE PLAIN {_plain(user, password)}")
        if any(c in user + password for c in "\r\n\0"):
            raise ProtocolTrouble("the user name or password cannot be sent with LOGIN")
        return await self._command(conn, f"LOGIN {_quoted(user)} {_quoted(password)}")

    async def quit(self, conn: LineConn) -> None:
        await self._command(conn, "LOGOUT")


# -- POP3 ------------------------------------------------------------------------------


class Pop3Dialog:
    name = "POP3"

    def greeting_ok(self, line: str) -> bool:
        return line.startswith("+OK")

    async def greeting(self, conn: LineConn) -> Reply:
        line = await conn.read_line()
        return Reply(self.greeting_ok(line), line, lines=(line,))

    async def _command(self, conn: LineConn, command: str) -> Reply:
        await conn.send(command)
        line = await conn.read_line()
        return Reply(line.startswith("+OK"), line, lines=(line,))

    async def capabilities(self, conn: LineConn) -> Caps:
        reply = await self._command(conn, "CAPA")
        if not reply.ok:
            return Caps()  # an RFC 1939 server without CAPA
        names: set[str] = set()
        while (line := await conn.read_line()) != ".":
            words = line.upper().split()
            if words and words[0] == "SASL":
                names.update(f"SASL={w}" for w in words[1:])
            elif words:
                names.add(words[0])
        return Caps(frozenset(names), " ".join(sorted(names)))

    def starttls_offered(self, caps: Caps) -> bool:
        return "STLS" in caps.names

    def login_offered(self, caps: Caps) -> bool:
        return not caps.names or "USER" in caps.names or "SASL=PLAIN" in caps.names

    async def starttls(self, conn: LineConn) -> Reply:
        return await self._command(conn, "STLS")

    async def login(self, conn: LineConn, user: str, password: str, caps: Caps) -> Reply:
        if "USER" not in caps.names and "SASL=PLAIN" in caps.names:
            return await self._command(conn, f"AUTH PLAIN {_plain(user, password)}")
        if any(c in user + password for c in "\r\n"):
            raise ProtocolTrouble("the user name or password contains a line break")
        reply = await self._command(conn, f"USER {user}")
        if not reply.ok:
            return reply
        return await self._command(conn, f"PASS {password}")

    async def quit(self, conn: LineConn) -> None:
        await self._command(conn, "QUIT")


# -- SMTP ------------------------------------------------------------------------------

_SMTP_LINE = re.compile(r"^(\d{3})([ -]?)(.*)$")


class SmtpDialog:
    name = "SMTP"

    def greeting_ok(self, line: str) -> bool:
        return line.startswith("220")

    async def read_reply(self, conn: LineConn) -> Reply:
        lines = []
        while True:
            line = await conn.read_line()
            lines.append(line)
            match = _SMTP_LINE.match(line)
            if match is None:
                return Reply(False, line, 0, tuple(lines))
            if match.group(2) != "-":
                code = int(match.group(1))
                return Reply(200 <= code < 400, " / ".join(lines), code, tuple(lines))
            if len(lines) > 200:
                raise ProtocolTrouble("a reply of more than 200 lines")

    async def greeting(self, conn: LineConn) -> Reply:
        reply = await self.read_reply(conn)
        return Reply(reply.code == 220, reply.text, reply.code, reply.lines)

    async def command(self, conn: LineConn, command: str) -> Reply:
        await conn.send(command)
        return await self.read_reply(conn)

    async def capabilities(self, conn: LineConn) -> Caps:
        reply = await self.command(conn, f"EHLO [{conn.local_ip}]")
        if reply.code != 250:
            reply = await self.command(conn, f"HELO [{conn.local_ip}]")
            return Caps(frozenset(), "(no EHLO: " + reply.text + ")")
        names: set[str] = set()
        for line in reply.lines[1:]:
            words = line[4:].upper().split()
            if not words:
                continue
            names.add(words[0])
            if words[0] == "AUTH":
                names.update(f"AUTH={w}" for w in words[1:])
        return Caps(frozenset(names), " ".join(sorted(names)))

    def starttls_offered(self, caps: Caps) -> bool:
        return "STARTTLS" in caps.names

    def login_offered(self, caps: Caps) -> bool:
        return "AUTH=PLAIN" in caps.names or "AUTH=LOGIN" in caps.names

    async def starttls(self, conn: LineConn) -> Reply:
        reply = await self.command(conn, "STARTTLS")
        return Reply(reply.code == 220, reply.text, reply.code, reply.lines)

    async def login(self, conn: LineConn, user: str, password: str, caps: Caps) -> Reply:
        reply = await self.command(conn, f"AUTH PLAIN {_plain(user, password)}")
        return Reply(reply.code == 235, reply.text, reply.code, reply.lines)

    async def mail_from(self, conn: LineConn, address: str) -> Reply:
        reply = await self.command(conn, f"MAIL FROM:<{address}>")
        if reply.code == 250:
            await self.command(conn, "RSET")
        return reply

    async def quit(self, conn: LineConn) -> None:
        await self.command(conn, "QUIT")


DIALOGS: dict[str, type[ImapDialog] | type[Pop3Dialog] | type[SmtpDialog]] = {
    "IMAP": ImapDialog,
    "POP3": Pop3Dialog,
    "SMTP": SmtpDialog,
}


def spoken_protocol(line: str) -> str:
    """Which protocol a first line belongs to: "IMAP", "POP3", "SMTP", "HTTP", "SSH" or ""."""
    upper = line.upper()
    if upper.startswith(("* OK", "* PREAUTH", "* BYE")):
        return "IMAP"
    if upper.startswith(("+OK", "-ERR")):
        return "POP3"
    if re.match(r"^[2-5]\d\d[ -]", line):
        return "SMTP"
    if upper.startswith("HTTP/"):
        return "HTTP"
    if upper.startswith("SSH-"):
        return "SSH"
    return ""


# -- what a refused login means ----------------------------------------------------------


class Verdict(enum.StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad credentials"
    DISABLED = "protocol switched off"
    BAD_OR_DISABLED = "bad credentials or protocol switched off"
    APP_PASSWORD = "app password required"  # noqa: S105 - a verdict
    WEB_SIGN_IN = "sign in on the web first"
    NEED_TLS = "encryption required"
    THROTTLED = "too many failures"
    NOT_OFFERED = "no login on this port"
    OTHER = "refused"


_THROTTLED = re.compile(r"too many|try again later|rate limit|throttl|temporar|\[SYS/TEMP\]", re.I)
_APP = re.compile(
    r"app(lication)?[- ]?(specific[- ])?passw|app-passwort|пароль (для )?(внешн|приложени)", re.I
)
_WEB = re.compile(r"log ?in (via|with|through) (your )?web ?browser|web login required", re.I)
_TLS = re.compile(
    r"PRIVACYREQUIRED|STARTTLS|\bSTLS\b|encryption required|must use (ssl|tls)|\bTLS\b"
    r"|plaintext (authentication|login)",
    re.I,
)
_DISABLED = re.compile(
    r"disabled|switched off|turned off|not enabled|is off\b|access rights|not allowed to use"
    r"|(imap|pop3?) access",
    re.I,
)
_FAILED = re.compile(r"fail|invalid|incorrect|wrong|denied|bad|AUTHENTICATIONFAILED|\[AUTH\]", re.I)


def classify_login(reply: Reply) -> Verdict:
    """The reason behind a login reply, from its code and words (never raises)."""
    if reply.ok:
        return Verdict.OK
    text = reply.text
    if reply.code in (454, 421) or _THROTTLED.search(text):
        return Verdict.THROTTLED
    if _APP.search(text) or (reply.code == 534 and "5.7.9" in text):
        return Verdict.APP_PASSWORD
    if _WEB.search(text) or (reply.code == 534 and "5.7.14" in text):
        return Verdict.WEB_SIGN_IN
    if reply.code in (503, 502) or "not available on this port" in text.lower():
        return Verdict.NOT_OFFERED
    if reply.code in (530, 538) or _TLS.search(text):
        return Verdict.NEED_TLS
    if _DISABLED.search(text):
        return Verdict.BAD_OR_DISABLED if _FAILED.search(text) else Verdict.DISABLED
    if reply.code in (0, 535, 501) or _FAILED.search(text):
        return Verdict.BAD_CREDENTIALS
    return Verdict.OTHER
