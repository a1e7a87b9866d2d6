"""Binary content made 7-bit at IMAP APPEND (RFC 3516 §4.4), as Dovecot stores it.

A message APPENDed in a literal8 may carry parts with ``Content-Transfer-Encoding:
binary``, NUL octets included. A plain IMAP literal can never carry NUL (RFC 9051
§4.3), so BODY[] could not serve such a part faithfully. Like Dovecot's binary
converter, each such leaf part is stored base64-encoded instead, its header field
saying so; BINARY[] (RFC 3516) still serves the original octets, decoded.
"""

from __future__ import annotations

import base64
import re

from postfach.message.model import BodyPart
from postfach.message.parse import parse_message

__all__ = ["base64_binary_parts"]

LINE = 76
_BINARY_CTE = re.compile(
    rb"^Content-Transfer-Encoding:[ \t]*binary[ \t]*(\r?\n)", re.IGNORECASE | re.MULTILINE
)


def _binary_leaves(part: BodyPart) -> list[BodyPart]:
    """Leaf parts declared binary, in order (multiparts and messages are descended)."""
    out: list[BodyPart] = []
    stack = [part]
    while stack:
        node = stack.pop()
        if node.parts:
            stack.extend(reversed(node.parts))
        elif node.message is not None:
            stack.append(node.message[1])
        elif node.encoding == "BINARY":
            out.append(node)
    return sorted(out, key=lambda p: p.header_start)


def _base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + LINE] for i in range(0, len(encoded), LINE))


def base64_binary_parts(raw: bytes) -> bytes:
    """`raw` with every binary leaf part base64-encoded; unchanged when it has none."""
    leaves = _binary_leaves(parse_message(raw).body)
    if not leaves:
        return raw
    out: list[bytes] = []
    pos = 0
    for leaf in leaves:
        header = raw[leaf.header_start : leaf.header_end]
        converted = _BINARY_CTE.sub(rb"Content-Transfer-Encoding: base64\1", header, count=1)
        if converted == header:
            continue  # declared in a form we do not rewrite (folded): left as it is
        out += [raw[pos : leaf.header_start], converted]
        out.append(_base64_lines(raw[leaf.header_end : leaf.body_end]))
        pos = leaf.body_end
    out.append(raw[pos:])
    return b"".join(out)
