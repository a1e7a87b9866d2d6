"""One message per contact: templates rendered, headers set, MIME built (R23).

Subject, text and HTML bodies are Jinja2 templates in a sandboxed environment
(the HTML one autoescapes) over the contact's CSV columns, plus `email`,
`contact` (all columns, for names that are not identifiers) and
`unsubscribe_url`. Templates are compiled once per campaign and attachments
encoded once, so a message costs three renders and some string joins.

Headers: From/Reply-To by the sender rules, Message-ID naming campaign and
recipient, and List-Unsubscribe with List-Unsubscribe-Post (RFC 8058 §3.1; the
HTTPS URI is the one-click one, RFC 2369 §3.2 allows the mailto form beside it).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import secrets
import time
from dataclasses import dataclass
from email.header import Header
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from postfach.mailing.sender import Sender
from postfach.mailing.templates import compile_template
from postfach.mailing.tokens import message_id, unsubscribe_url
from postfach.store.mailing import Campaign

__all__ = ["CampaignTemplates", "ComposeError", "Rendered", "check_templates"]


class ComposeError(ValueError):
    """A template that does not compile or render; the message says where."""


_TEXT_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_HTML_ENV = SandboxedEnvironment(autoescape=True, keep_trailing_newline=True)


def check_templates(subject: str, text: str, html: str) -> None:
    """Raises ComposeError if any template does not compile."""
    for label, env, source in (
        ("subject", _TEXT_ENV, subject),
        ("text body", _TEXT_ENV, text),
        ("HTML body", _HTML_ENV, html),
    ):
        try:
            env.from_string(source)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" line {line}" if line else ""
            raise ComposeError(f"{label}{where}: {exc.message or exc}") from None


@dataclass(frozen=True, slots=True)
class Rendered:
    envelope_from: str
    data: bytes


def _qp(lines: bytes) -> bytes:
    """Quoted-printable body with CRLF lines (RFC 2045 §6.7)."""
    return binascii.b2a_qp(lines, quotetabs=False, istext=True).replace(b"\n", b"\r\n")


def _body_bytes(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, encoded body with CRLF lines).

    Plain ASCII whose lines fit the 998-octet limit (RFC 5322 §2.1.1) goes as
    it is, 7bit (RFC 2045 §2.7); anything else quoted-printable. Encoding
    costs more than rendering, and most newsletters' text is ASCII.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and "\0" not in text and max(map(len, text.split("\n"))) <= 998:
        return "7bit", text.replace("\n", "\r\n").encode("ascii")
    return "quoted-printable", _qp(text.encode("utf-8"))


def _b64(data: bytes) -> bytes:
    raw = base64.encodebytes(data)  # 76-character lines
    return raw.replace(b"\n", b"\r\n")


def _header_text(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8").encode()


def _text_part(subtype: str, body: str) -> bytes:
    encoding, data = _body_bytes(body)
    return (
        f"Content-Type: text/{subtype}; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii") + data


def _multipart(subtype: str, parts: list[bytes]) -> tuple[bytes, bytes]:
    """(content-type header line, body) of a multipart made of `parts`."""
    boundary = "=_pf_" + secrets.token_hex(12)
    body = (
        b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
        + f"--{boundary}--\r\n".encode()
    )
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n'.encode()
    return head, body


def _one_line(text: str) -> str:
    """Whitespace runs (CR and LF among them) as one space: nothing can start a header."""
    return " ".join(text.split())


def _attachment(filename: str, content_type: str, data: bytes) -> bytes:
    filename, content_type = _one_line(filename), _one_line(content_type)
    if filename.isascii():
        quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
        disposition = f'attachment; filename="{quoted}"'
    else:  # RFC 2231 §4
        disposition = f"attachment; filename*={email.utils.encode_rfc2231(filename, 'utf-8')}"
    return (
        f"Content-Type: {content_type}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: {disposition}\r\n\r\n"
    ).encode() + _b64(data)


class CampaignTemplates:
    """A campaign compiled once; `render()` makes each contact's message."""

    def __init__(
        self,
        campaign: Campaign,
        attachments: list[tuple[str, str, bytes]],
        unsubscribe_base: str,
    ) -> None:
        check_templates(campaign.subject, campaign.text_body, campaign.html_body)
        self.campaign = campaign
        self.unsubscribe_base = "".join(unsubscribe_base.split())
        self._subject = compile_template(_TEXT_ENV, campaign.subject)
        self._text = compile_template(_TEXT_ENV, campaign.text_body) if campaign.text_body else None
        self._html = compile_template(_HTML_ENV, campaign.html_body) if campaign.html_body else None
        self._attachments = [_attachment(*a) for a in attachments]
        self._from: dict[Sender, str] = {}
        self._date = (0, "")

    def render(
        self, sender: Sender, envelope_from: str, email_to: str, token: str, fields: dict[str, str]
    ) -> Rendered:
        """Raises ComposeError when a template fails for this contact.

        The message has CRLF line ends only (the sender relies on it): bodies are
        normalized, header values are single lines.
        """
        if "\n" in email_to or "\r" in email_to:
            raise ComposeError(f"the address {email_to!r} cannot be a header")
        url = unsubscribe_url(self.unsubscribe_base, token)
        variables: dict[str, Any] = {k: v for k, v in fields.items() if k.isidentifier()}
        variables.update(email=email_to, contact=fields, unsubscribe_url=url)
        try:
            subject = " ".join(self._subject.render(variables).split())
            text = self._text.render(variables) if self._text else None
            html = self._html.render(variables) if self._html else None
        except Exception as exc:  # the sandbox raises SecurityError and user errors alike
            raise ComposeError(f"template error for {email_to}: {exc}") from None
        head = self._headers(sender, email_to, token, subject, url, envelope_from)
        return Rendered(envelope_from, head + self._body(text, html))

    def _headers(
        self, sender: Sender, to: str, token: str, subject: str, url: str, envelope_from: str
    ) -> bytes:
        lines = [
            self._from_line(sender),
            f"To: {to}",
            "Subject: " + _header_text(subject),
            self._date_line(),
            "Message-ID: " + message_id(sender.address, self.campaign.id, token),
            "MIME-Version: 1.0",
            f"List-Unsubscribe: <{url}>, <mailto:{envelope_from}?subject=unsubscribe>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        ]
        if sender.reply_to:
            lines.append(f"Reply-To: {_one_line(sender.reply_to)}")
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def _from_line(self, sender: Sender) -> str:
        line = self._from.get(sender)
        if line is None:
            address = email.utils.formataddr(
                (_one_line(sender.name), _one_line(sender.address)), charset="utf-8"
            )
            line = self._from[sender] = "From: " + address
        return line

    def _date_line(self) -> str:
        """RFC 5322 §3.3 date, formatted once a second."""
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, "Date: " + email.utils.formatdate(second, usegmt=True))
        return self._date[1]

    def _body(self, text: str | None, html: str | None) -> bytes:
        parts = []
        if text is not None:
            parts.append(_text_part("plain", text))
        if html is not None:
            parts.append(_text_part("html", html))
        if not parts:
            parts.append(_text_part("plain", ""))
        if len(parts) == 1:
            content = parts[0]
        else:
            head, body = _multipart("alternative", parts)
            content = head + b"\r\n" + body
        if not self._attachments:
            return content
        head, body = _multipart("mixed", [content, *self._attachments])
        return head + b"\r\n" + body
