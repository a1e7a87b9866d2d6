"""NUL in message content (issue #14 point 9): refused at the end of DATA and BDAT
with 554 5.6.0 on every listener, nothing stored, the session usable after."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from harness import TestServer
from postfach.smtp import replies
from support.net import insecure_tls_context

from .smtpmailbox import messages_in
from .smtpwire import Wire, reply_of

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
WITH_NUL = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: nul\r\n\r\nbad\0byte\r\n"
# On the MX without AUTH, From: may not name our own domain (issue 16): a stranger's.
STRANGER, STRANGER_NUL = (m.replace(b"a@example.org", b"x@y.test") for m in (MESSAGE, WITH_NUL))


def client_for(server: TestServer, listener: str) -> smtplib.SMTP:
    """A logged-in smtplib client on a submission listener, a plain one on the MX."""
    port = server.port(listener)
    if listener == "submissions":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            server.host, port, context=insecure_tls_context(), timeout=10
        )
    else:
        client = smtplib.SMTP(server.host, port, timeout=10)
    if listener != "smtp":
        if listener == "submission":  # devices takes plaintext AUTH (R7)
            client.starttls(context=insecure_tls_context())
        client.login("a@example.org", "pw")
    return client


@pytest.mark.parametrize("listener", ["smtp", "submission", "submissions", "devices"])
async def test_data_with_nul_is_refused_and_the_session_goes_on(
    server: TestServer, listener: str
) -> None:
    await server.add_user("a@example.org", "pw")
    await server.add_user("b@example.org", "pw")

    mx = listener == "smtp"
    sender = "x@y.test" if mx else "a@example.org"
    message, with_nul = (STRANGER, STRANGER_NUL) if mx else (MESSAGE, WITH_NUL)

    def send() -> tuple[int, bytes]:
        with client_for(server, listener) as client:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail(sender, ["b@example.org"], with_nul)
            # smtplib sent RSET after the refusal; a new transaction in the same session works
            client.sendmail(sender, ["b@example.org"], message)
            return refused.value.smtp_code, refused.value.smtp_error

    code, text = await asyncio.to_thread(send)
    assert (code, text.decode()) == reply_of(replies.NUL_IN_MESSAGE)
    assert text.startswith(b"5.6.0 ")
    [raw] = await messages_in(server.ctx.store, "b@example.org")
    assert raw.endswith(message) and b"\0" not in raw


async def test_bdat_with_nul_is_refused_unless_binarymime(server: TestServer) -> None:
    await server.add_user("b@example.org", "pw")
    wire = await Wire.open(server.host, server.port("smtp"))
    await wire.start()
    await wire.expect("MAIL FROM:<x@y.test>", 250)
    await wire.expect("RCPT TO:<b@example.org>", 250)
    head, tail = STRANGER_NUL[:30], STRANGER_NUL[30:]
    await wire.send(b"BDAT %d\r\n" % len(head) + head + b"BDAT %d LAST\r\n" % len(tail) + tail)
    assert (await wire.reply())[0] == 250
    assert await wire.reply() == reply_of(replies.NUL_IN_MESSAGE)
    assert await messages_in(server.ctx.store, "b@example.org") == []
    # the session goes on; BODY=BINARYMIME content may be binary (RFC 3030 §3)
    await wire.expect("MAIL FROM:<x@y.test> BODY=BINARYMIME", 250)
    await wire.expect("RCPT TO:<b@example.org>", 250)
    await wire.send(b"BDAT %d LAST\r\n" % len(STRANGER_NUL) + STRANGER_NUL)
    assert (await wire.reply())[0] == 250
    [raw] = await messages_in(server.ctx.store, "b@example.org")
    assert raw.endswith(STRANGER_NUL)
    await wire.expect("QUIT", 221)
