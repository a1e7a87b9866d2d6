"""SMTP listeners: `smtp` (MX, port 25), `submission` (587), `submissions` (465), `devices`.

`start_listener` is what `postfach.app.App` calls for each enabled SMTP listener.
The protocol engine is postfach's own (parser.py, session.py, wire.py) on
`postfach.net`: `serve_streams` brings implicit TLS for `submissions`, the per-IP
connection limit and a clean shutdown; wire.py frames on its LineChannel. aiosmtpd
was the first choice; it is not used because it cannot carry DSN parameters, BDAT,
enhanced codes on every reply and the per-message speed goal of issue 3 without
rewriting its core.
"""

from __future__ import annotations

import asyncio
import functools

from postfach.config import ListenerSpec
from postfach.context import ServerContext
from postfach.net.lines import LoginDeadline
from postfach.net.listeners import Listener, WireReplies, serve_streams
from postfach.serving import listener_env
from postfach.smtp import replies
from postfach.smtp.service import SmtpService
from postfach.smtp.session import Session
from postfach.smtp.wire import Wire

__all__ = ["SMTP_LISTENERS", "handle", "start_listener"]

SMTP_LISTENERS = frozenset({"smtp", "submission", "submissions", "devices"})


async def handle(
    service: SmtpService,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    deadline: LoginDeadline,
    client_ip: str,
) -> None:
    wire = Wire(reader, writer, service.timeout)
    await Session(service, wire, client_ip, deadline).run()


async def start_listener(ctx: ServerContext, spec: ListenerSpec) -> Listener:
    """Starts one SMTP listener; `stop()` on the result closes it and its sessions."""
    if spec.name not in SMTP_LISTENERS:
        raise ValueError(f"not an SMTP listener: {spec.name}")
    service = SmtpService(ctx, spec)
    wire_replies = WireReplies(
        too_many_from_ip=replies.TOO_MANY_CONNECTIONS.to_bytes(),
        too_busy=replies.SERVER_BUSY.to_bytes(),
        timeout=replies.TIMEOUT.to_bytes(),
    )
    preauth = ctx.config.limits.smtp_preauth_timeout
    return await serve_streams(
        listener_env(ctx, spec), functools.partial(handle, service), wire_replies, preauth
    )
