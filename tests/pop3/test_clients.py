"""Real mail programs download a 500-message maildrop: fetchmail and getmail6.

Each run checks every message byte for byte (both programs store LF line ends,
so the comparison is on LF text), once keeping mail on the server and once
deleting it, and a second run must find nothing new. Skipped when the programs
are not installed (Debian: `apt-get install -y fetchmail getmail6`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import random
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiosmtpd.lmtp import LMTP

from postfach.store.records import Pop3Delete

from .helpers import PASSWORD, stored

COUNT = 500
ADDRESS = "a@example.org"


def corpus(count: int, seed: int = 1939) -> list[bytes]:
    """Messages with dot lines, a lone dot, 8-bit text, bare LF and assorted sizes."""
    rng = random.Random(seed)
    bodies = [
        b".leading dot\r\n.\r\n..two dots\r\nend\r\n",
        "Grüße aus Köln – ünïcödé\r\n".encode(),
        b"bare LF line\nanother\n.\nlast\n",
        b"no final line end",
    ]
    messages = []
    for n in range(count):
        filler = b"".join(b"line %d of %d %s\r\n" % (i, n, b"x" * rng.randrange(0, 70))
                          for i in range(rng.choice([1, 5, 40, 400])))
        messages.append(
            b"From: Sender <sender@example.net>\r\nTo: <a@example.org>\r\n"
            b"Subject: message %d\r\nMessage-ID: <%d.pop3test@example.net>\r\n"
            b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n" % (n, n)
            + bodies[n % len(bodies)] + filler
        )
    return messages


def as_lf(data: bytes) -> bytes:
    data = data.replace(b"\r\n", b"\n")
    return data if data.endswith(b"\n") else data + b"\n"


async def fill_maildrop(server, *, deliver: bool = True, **settings) -> Counter[bytes]:
    """Delivers the corpus (with trace headers) or appends it as it is; returns what
    POP3 must hand out."""
    account = await server.add_user(ADDRESS, PASSWORD, **settings)
    store = server.ctx.store
    if deliver:
        await asyncio.gather(*(
            server.ctx.delivery.deliver(raw, "sender@example.net", [ADDRESS])
            for raw in corpus(COUNT)
        ))
    else:
        inbox = await store.mailboxes.get_mailbox(account.id, "INBOX")
        for raw in corpus(COUNT):
            await store.mail.append(inbox.id, raw)
    messages = await stored(server, account)
    assert len(messages) == COUNT
    return Counter([as_lf(await store.mail.read_raw(m)) for m in messages])


async def run(*argv: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(errors="replace")


# -- getmail6 -----------------------------------------------------------------


class _Sink:
    """Collects what getmail hands over by LMTP, one message per DATA."""

    def __init__(self) -> None:
        self.messages: Counter[bytes] = Counter()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages[as_lf(envelope.original_content or envelope.content)] += 1
        return "250 2.0.0 delivered"


@contextlib.asynccontextmanager
async def lmtp_sink() -> AsyncIterator[tuple[_Sink, int]]:
    """getmail's file destinations fork per message, slowly, and refuse to run as root;
    its LMTP destination hands over each message as parsed, so LMTP it is. It re-folds
    header lines over 78 octets (Python's email generator), so getmail's maildrop
    holds the corpus as appended, without the long trace headers of delivery."""
    sink = _Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: LMTP(sink, decode_data=False, enable_SMTPUTF8=True), "127.0.0.1", 0
    )
    try:
        yield sink, server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def getmail(server, home: Path, delete: bool) -> tuple[int, str, Counter[bytes]]:
    async with lmtp_sink() as (sink, port):
        rc = home / "getmailrc"
        rc.write_text(
            "[retriever]\ntype = SimplePOP3Retriever\n"
            f"server = {server.host}\nport = {server.port('pop3')}\n"
            f"username = {ADDRESS}\npassword = {PASSWORD}\n\n"
            f"[destination]\ntype = MDA_lmtp\nhost = 127.0.0.1\nport = {port}\n"
            f"override = {ADDRESS}\n\n"
            "[options]\nread_all = false\ndelivered_to = false\nreceived = false\n"
            f"delete = {'true' if delete else 'false'}\nverbose = 0\n"
        )
        code, log = await run(
            "getmail", "--getmaildir", str(home), "--rcfile", str(rc), env=dict(os.environ)
        )
    return code, log, sink.messages


@pytest.mark.skipif(shutil.which("getmail") is None, reason="getmail6 is not installed")
@pytest.mark.parametrize("delete", [False, True], ids=["keep", "delete"])
async def test_getmail_downloads_everything_exactly(server, tmp_path, delete):
    policy = Pop3Delete.EXPUNGE if delete else Pop3Delete.KEEP
    expected = await fill_maildrop(server, deliver=False, pop3_delete=policy)
    code, log, got = await getmail(server, tmp_path, delete)
    assert code == 0, log
    assert got == expected
    code, log, again = await getmail(server, tmp_path, delete)
    assert code == 0, log
    assert again == Counter()
    account = await server.ctx.store.accounts.get_account(ADDRESS)
    assert len(await stored(server, account)) == (0 if delete else COUNT)


# -- fetchmail ----------------------------------------------------------------

async def fetchmail(server, home: Path, keep: bool) -> tuple[int, str, Counter[bytes]]:
    """fetchmail hands each message to an MDA that writes one file."""
    out = home / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rc = home / "fetchmailrc"
    rc.write_text(
        "set invisible\nset no syslog\n"
        f"poll {server.host} port {server.port('pop3')} proto pop3 uidl\n"
        f'  user "{ADDRESS}" there with password "{PASSWORD}" is "{getpass.getuser()}" here\n'
        f"  {'keep' if keep else 'no keep'} no rewrite no sslcertck\n"
        f'  mda "exec cat > {out}/$$"\n'
    )
    rc.chmod(0o600)
    env = {**os.environ, "HOME": str(home), "FETCHMAILHOME": str(home)}
    # Its own lock file: as root fetchmail locks /var/run/fetchmail.pid whatever
    # FETCHMAILHOME says, and a second fetchmail at once (another test) exits with 8.
    code, log = await run(
        "fetchmail", "-f", str(rc), "--idfile", str(home / "ids"), "-N", "--nosoftbounce",
        "--pidfile", str(home / "fetchmail.pid"),
        env=env,
    )
    return code, log, Counter(p.read_bytes() for p in out.iterdir())


@pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail is not installed")
@pytest.mark.parametrize("keep", [True, False], ids=["keep", "delete"])
async def test_fetchmail_downloads_everything_exactly(server, tmp_path, keep):
    """With STLS (fetchmail uses it when offered) and the trace headers of delivery."""
    policy = Pop3Delete.KEEP if keep else Pop3Delete.EXPUNGE
    expected = await fill_maildrop(server, pop3_delete=policy)
    code, log, got = await fetchmail(server, tmp_path, keep)
    assert code == 0, log
    assert got == expected
    code, log, again = await fetchmail(server, tmp_path, keep)
    assert code == 1, log  # 1: no new mail
    assert again == Counter()
    account = await server.ctx.store.accounts.get_account(ADDRESS)
    assert len(await stored(server, account)) == (COUNT if keep else 0)
