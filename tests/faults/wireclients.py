"""Small blocking clients for the fault tests: each call says how the server
answered, or that it did not (the connection closed without a reply, or hung).

They run in plain threads (not asyncio.to_thread) beside an in-process
server: the server's own to_thread work (password hashing) must not queue
behind them in the default executor.
"""

from __future__ import annotations

import smtplib
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "Outcomes",
    "RawImap",
    "SmtpAttempt",
    "message_for",
    "run_loops",
    "smtp_send",
    "unique_tag",
]

SOCKET_TIMEOUT = 20.0  # far beyond any answer; reaching it counts as "no answer"


def message_for(tag: str, size: int = 0) -> bytes:
    body = ("x" * 76 + "\r\n") * (size // 78) if size else "hello\r\n"
    return (
        f"From: sender@example.net\r\nTo: alice@example.org\r\nSubject: {tag}\r\n"
        f"Message-ID: <{tag}@example.net>\r\n\r\n{body}"
    ).encode()


@dataclass
class SmtpAttempt:
    """One SMTP conversation: the replies it got, in order, and how it ended."""

    tag: str
    codes: list[int] = field(default_factory=list)
    unanswered: str = ""  # what happened instead of a reply, if anything

    @property
    def accepted(self) -> bool:
        return self.codes[:5] == [220, 250, 250, 250, 250]


def _reply(attempt: SmtpAttempt, code: int) -> bool:
    attempt.codes.append(code)
    return code < 400


def smtp_send(port: int, tag: str, size: int = 0) -> SmtpAttempt:
    """EHLO, MAIL, RCPT, DATA; stops at the first 4xx/5xx (then RSET and QUIT)."""
    attempt = SmtpAttempt(tag)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=SOCKET_TIMEOUT) as client:
            attempt.codes.append(220)
            ok = (
                _reply(attempt, client.ehlo("client.example.net")[0])
                and _reply(attempt, client.mail("sender@example.net")[0])
                and _reply(attempt, client.rcpt("alice@example.org")[0])
                and _reply(attempt, client.data(message_for(tag, size))[0])
            )
            if not ok and attempt.codes[-1] != 421:  # the session goes on: RSET works
                attempt.codes.append(client.rset()[0])
    except smtplib.SMTPServerDisconnected as exc:
        attempt.unanswered = f"closed: {exc}"
    except smtplib.SMTPResponseException as exc:
        # smtplib raises for a reply it did not expect (e.g. 421 at connect,
        # or a 4xx to DATA's 354 step): an answer all the same.
        attempt.codes.append(exc.smtp_code)
    except (OSError, TimeoutError) as exc:
        attempt.unanswered = f"{type(exc).__name__}: {exc}"
    return attempt


class RawImap:
    """An IMAP connection that reports each command's end: the tagged status,
    "BYE" (an untagged BYE, then the end) or "EOF" (closed without a word)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
        self.file = self.sock.makefile("rb")
        self.greeting = self.file.readline()
        self.count = 0
        self.alive = self.greeting.startswith(b"* OK")

    def command(self, text: str) -> tuple[str, bytes]:
        self.count += 1
        tag = f"t{self.count}"
        try:
            self.sock.sendall(f"{tag} {text}\r\n".encode())
            bye = b""
            while True:
                line = self.file.readline()
                if not line:
                    self.alive = False
                    return ("BYE", bye) if bye else ("EOF", b"")
                if line.startswith(b"* BYE"):
                    bye = line
                elif line.startswith(tag.encode() + b" "):
                    status = line.split(b" ", 2)[1].decode()
                    return status, line
        except OSError as exc:
            self.alive = False
            return "EOF", str(exc).encode()

    def close(self) -> None:
        try:
            self.command("LOGOUT")
        finally:
            self.sock.close()


@dataclass
class Outcomes:
    """What the load threads saw, collected under one lock."""

    smtp: list[SmtpAttempt] = field(default_factory=list)
    imap: list[tuple[str, str, bytes]] = field(default_factory=list)  # (command, status, line)
    pop3: list[bytes] = field(default_factory=list)  # the first line of each answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_smtp(self, attempt: SmtpAttempt) -> None:
        with self.lock:
            self.smtp.append(attempt)

    def add_imap(self, command: str, status: str, line: bytes) -> None:
        with self.lock:
            self.imap.append((command, status, line))

    def add_pop3(self, answer: bytes) -> None:
        with self.lock:
            self.pop3.append(answer)


def unique_tag(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def run_loops(
    loops: list[Callable[[threading.Event], None]], stop: threading.Event
) -> list[threading.Thread]:
    threads = [threading.Thread(target=loop, args=(stop,), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    return threads

