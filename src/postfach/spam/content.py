"""What the spam rules and the classifier read of a message, parsed once.

Pure: bytes in, a `Content` out. Only the first `SCAN_LIMIT` bytes are read
(spam that hides past them gains nothing: the rules that matter, headers and
the first parts, are there), and no input makes it raise: a part the email
package cannot decode counts as empty.
"""

from __future__ import annotations

import contextlib
import email
import email.header
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser

__all__ = [
    "SCAN_LIMIT",
    "Content",
    "Link",
    "content_of",
    "decode_words",
    "html_links",
    "html_reading",
    "html_text",
    "parse_content",
]

SCAN_LIMIT = 256 * 1024

_MAX_LINKS = 1000


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str  # what the reader sees, tags removed


@dataclass(slots=True)
class Content:
    headers: dict[str, list[str]] = field(default_factory=dict)  # lower-case name -> raw values
    plain: list[str] = field(default_factory=list)  # text/plain parts
    html: list[str] = field(default_factory=list)  # text/html parts, as sent
    html_text: list[str] = field(default_factory=list)  # what a reader sees of them
    links: list[Link] = field(default_factory=list)
    filenames: list[str] = field(default_factory=list)  # of attachments and inline parts

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""


def parse_content(raw: bytes) -> Content:
    return content_of(_message(raw[:SCAN_LIMIT]))


def content_of(message: Message) -> Content:
    """What the rules read of a message the email package has parsed."""
    content = Content()
    for name, value in message.items():
        content.headers.setdefault(name.lower(), []).append(str(value))
    for part in message.walk():
        _add_part(content, part)
    for source in content.html:
        text, links = html_reading(source)
        content.html_text.append(text)
        content.links.extend(links)
    return content


# The email package's own reading of where a header ends (email/feedparser.py):
# lines end at CR LF, CR or LF; a header line is an mbox "From ", a field name
# and a colon, or a continuation; the first other line ends the header, an empty
# one taken with it. A "From " line last of several opens the body instead.
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")
_LINE_END = re.compile(rb"\r\n|\r|\n")


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """The header lines and the body text, as the email package divides them."""
    pos = last = 0
    body = -1
    while pos < len(raw):
        line_end = _LINE_END.search(raw, pos)
        end = len(raw) if line_end is None else line_end.end()
        if not _HEADER_LINE.match(raw, pos):
            body = end if _LINE_END.match(raw, pos) else pos
            break
        last, pos = pos, end
    if body < 0:
        body = pos
    if last > 0 and raw.startswith(b"From ", last):
        return raw[:last], raw[last:pos] + raw[body:]
    return raw[:pos], raw[body:]


def _message(raw: bytes) -> Message:
    """What `email.message_from_bytes` makes of `raw`. A message that is no multipart
    and holds no message is its header and its body as one text: the header goes
    through the email package, the body is set as it would have set it, without
    its line-by-line reading of a body that has no parts to find (most mail)."""
    header, body = _split(raw)
    message = email.message_from_bytes(header, policy=email.policy.compat32)
    if message.get_content_maintype() in ("multipart", "message"):
        return email.message_from_bytes(raw, policy=email.policy.compat32)
    message.set_payload(body.decode("ascii", "surrogateescape"))
    return message


def _add_part(content: Content, part: Message) -> None:
    if part.is_multipart():
        return
    filename = _filename(part)
    if filename:
        content.filenames.append(filename)
    kind = part.get_content_type()
    if kind not in ("text/plain", "text/html") or part.get_content_disposition() == "attachment":
        return
    text = _text_of(part)
    (content.plain if kind == "text/plain" else content.html).append(text)


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # a malformed RFC 2231 parameter
        return ""
    if isinstance(name, tuple):  # an RFC 2231 triple
        name = name[2]
    return decode_words(str(name)).strip()


def _text_of(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return ""
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:  # an unknown charset
        return payload.decode("utf-8", "replace")


def decode_words(value: str) -> str:
    """RFC 2047 encoded-words decoded; what cannot be decoded stays as it is."""
    try:
        parts = email.header.decode_header(value)
    except Exception:
        return value
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        try:
            out.append(chunk.decode(charset or "ascii", "replace"))
        except LookupError:
            out.append(chunk.decode("utf-8", "replace"))
    return "".join(out)


def html_text(source: str) -> str:
    """The words a reader sees in HTML: scripts, styles and tags gone."""
    return html_reading(source)[0]


def html_links(source: str) -> list[Link]:
    return html_reading(source)[1]


def html_reading(source: str) -> tuple[str, list[Link]]:
    """Visible text and links of HTML, in one linear pass (html.parser never raises
    on bad markup)."""
    reader = _HtmlReader()
    with contextlib.suppress(Exception):  # html.parser is lenient; still, never crash a scan
        reader.feed(source)
        reader.close()
    return " ".join(reader.words), reader.links


class _HtmlReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []
        self.links: list[Link] = []
        self._hidden = 0  # inside <script> or <style>
        self._href: str | None = None
        self._anchor_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag == "a":
            self._close_anchor()
            self._href = next((v or "" for k, v in attrs if k == "href"), None)
            self._anchor_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)
        elif tag == "a":
            self._close_anchor()

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self.words.append(data)
        if self._href is not None:
            self._anchor_text.append(data)

    def close(self) -> None:
        super().close()
        self._close_anchor()

    def _close_anchor(self) -> None:
        if self._href is not None and len(self.links) < _MAX_LINKS:
            text = " ".join("".join(self._anchor_text).split())
            self.links.append(Link(self._href.strip(), text))
        self._href = None
