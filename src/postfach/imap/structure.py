"""ENVELOPE and BODYSTRUCTURE / BODY on the wire, from the parse kept at delivery.

RFC 9051 §7.5.2 (RFC 3501 §7.4.2) and the formal syntax of §9 (`envelope`,
`body`, `body-type-1part`, `body-type-mpart`, `body-ext-1part`,
`body-ext-mpart`). Input is the `postfach.message` model rebuilt with
`ParsedMessage.from_json`; nothing here looks at message bytes.
"""

from __future__ import annotations

from postfach.imap.grammar import nstring, quoted
from postfach.message import Address, BodyPart, Envelope

__all__ = ["bodystructure", "envelope"]

Params = tuple[tuple[str, str], ...]


def envelope(env: Envelope, utf8: bool) -> bytes:
    """`(date subject from sender reply-to to cc bcc in-reply-to message-id)`."""
    items = [
        nstring(env.date, utf8),
        nstring(env.subject, utf8),
        _addresses(env.from_, utf8),
        _addresses(env.sender, utf8),
        _addresses(env.reply_to, utf8),
        _addresses(env.to, utf8),
        _addresses(env.cc, utf8),
        _addresses(env.bcc, utf8),
        nstring(env.in_reply_to, utf8),
        nstring(env.message_id, utf8),
    ]
    return b"(" + b" ".join(items) + b")"


def _addresses(addrs: tuple[Address, ...] | None, utf8: bool) -> bytes:
    """An address list, or NIL; groups are (NIL NIL name NIL) ... (NIL NIL NIL NIL)."""
    if not addrs:
        return b"NIL"
    out = [
        b"("
        + b" ".join(
            (
                nstring(a.name, utf8),
                nstring(a.adl, utf8),
                nstring(a.mailbox, utf8),
                nstring(a.host, utf8),
            )
        )
        + b")"
        for a in addrs
    ]
    return b"(" + b"".join(out) + b")"


def bodystructure(part: BodyPart, extensible: bool, utf8: bool) -> bytes:
    """BODYSTRUCTURE (`extensible`) or BODY of a part and everything below it."""
    if part.parts:
        return _multipart(part, extensible, utf8)
    out = [
        quoted(part.type, utf8),
        quoted(part.subtype, utf8),
        _params(part.params, utf8),
        nstring(part.id, utf8),
        nstring(part.description, utf8),
        quoted(part.encoding, utf8),
        b"%d" % part.size,
    ]
    if part.message is not None:
        inner_env, inner_body = part.message
        out += [
            envelope(inner_env, utf8),
            bodystructure(inner_body, extensible, utf8),
            b"%d" % (part.lines or 0),
        ]
    elif part.type == "text":
        out.append(b"%d" % (part.lines or 0))
    if extensible:
        out += [nstring(part.md5, utf8), *_extension(part, utf8)]
    return b"(" + b" ".join(out) + b")"


def _multipart(part: BodyPart, extensible: bool, utf8: bool) -> bytes:
    inner = b"".join(bodystructure(child, extensible, utf8) for child in part.parts)
    out = [inner, quoted(part.subtype, utf8)]
    if extensible:
        out += [_params(part.params, utf8), *_extension(part, utf8)]
    return b"(" + b" ".join(out) + b")"


def _extension(part: BodyPart, utf8: bool) -> list[bytes]:
    """body-fld-dsp SP body-fld-lang SP body-fld-loc."""
    disposition = b"NIL"
    if part.disposition is not None:
        kind, params = part.disposition
        disposition = b"(" + quoted(kind, utf8) + b" " + _params(params, utf8) + b")"
    language = b"NIL"
    if part.language:
        if len(part.language) == 1:
            language = quoted(part.language[0], utf8)
        else:
            language = b"(" + b" ".join(quoted(t, utf8) for t in part.language) + b")"
    return [disposition, language, nstring(part.location, utf8)]


def _params(params: Params, utf8: bool) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(quoted(k, utf8) + b" " + quoted(v, utf8) for k, v in params) + b")"
