"""What SEARCH TEXT finds beyond the body (RFC 9051 §6.4.4): every header field
and the names of attachments.

`head_search_text` lists each field of the top-level header as ``name: value``
with RFC 2047 encoded words decoded, then the file names of the MIME parts
(Content-Disposition ``filename``, Content-Type ``name``; RFC 2231 and encoded
words decoded). From, To, Cc, Bcc and Subject come first, so that the capped text
always holds what the store's single-field columns hold: an index on this text
then never misses a message those columns would find.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from postfach.message.headers import Field, decode_words, scan_header
from postfach.message.model import BodyPart
from postfach.message.params import param_value

__all__ = ["HEAD_CAP", "attachment_names", "head_search_text"]

# Five fields of up to 256 K characters each (the columns' cap) and the rest.
HEAD_CAP = 2 * 1024 * 1024
_FIRST = (b"from", b"to", b"cc", b"bcc", b"subject")


def _parts(part: BodyPart) -> Iterator[BodyPart]:
    yield part
    for child in part.parts:
        yield from _parts(child)
    if part.message is not None:
        yield from _parts(part.message[1])


def attachment_names(body: BodyPart) -> list[str]:
    """File names of the parts of `body`, in order, each once."""
    names: list[str] = []
    for part in _parts(body):
        found = [param_value(part.params, "name")]
        if part.disposition is not None:
            found.insert(0, param_value(part.disposition[1], "filename"))
        for name in found:
            if name and (text := decode_words(name.encode("utf-8", "replace"))) not in names:
                names.append(text)
    return names


def head_search_text(
    raw: bytes,
    header_end: int,
    body: BodyPart,
    addresses: Sequence[str] = (),
    fields: Sequence[Field] | None = None,
) -> str:
    """``name: value`` per header field (From, To, Cc, Bcc and Subject first), then
    the attachment names, one per line; not case-folded. `addresses` go first: the
    address fields as SEARCH FROM/TO/CC/BCC match them (written out as Dovecot
    writes them, RFC 5322 comments and routes resolved), which the raw fields do
    not always hold as one substring. `fields`: the header's, when the caller
    has scanned it already."""
    if fields is None:
        fields, _ = scan_header(raw, 0, header_end)
    lines: list[str] = [text for text in addresses if text]
    firsts = [next((f for f in fields if f.name == name), None) for name in _FIRST]
    for field in firsts:
        if field is not None:
            lines.append(f"{field.name.decode('ascii', 'replace')}: {decode_words(field.value)}")
    chosen = {id(f) for f in firsts}
    for field in fields:
        if id(field) not in chosen:
            lines.append(f"{field.name.decode('ascii', 'replace')}: {decode_words(field.value)}")
    lines.extend(attachment_names(body))
    return "\n".join(lines)[:HEAD_CAP]
