"""A message's bytes with what delivery parses out of them, ready to insert.

Parsing happens here, once, before the write transaction: the transaction then
only inserts. Content is keyed by SHA-256, so a message sent to many recipients
is stored once. The `blobs` table itself is the mail role's (store/mail.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from postfach.cooperative import run_off_loop
from postfach.message import parse_message
from postfach.message.searchhead import HEAD_CAP

__all__ = ["PreparedBlob", "prepare_blob", "prepare_blob_off_loop"]

# Case-folded search text is capped per field; SEARCH beyond it is not promised.
_SEARCH_CAP = 256 * 1024
# Messages above this size are parsed and hashed in a worker thread (~1 ms of
# work at this size, ~40 ms at 20 MB); smaller ones cost less than the hand-over.
THREAD_PARSE_SIZE = 256 * 1024


@dataclass(frozen=True, slots=True)
class PreparedBlob:
    sha256: str
    data: bytes
    parsed: str
    s_from: str
    s_to: str
    s_cc: str
    s_bcc: str
    s_subject: str
    s_body: str
    s_head: str

    @property
    def size(self) -> int:
        return len(self.data)

    def row(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "data": self.data,
            "parsed": self.parsed,
            "s_from": self.s_from,
            "s_to": self.s_to,
            "s_cc": self.s_cc,
            "s_bcc": self.s_bcc,
            "s_subject": self.s_subject,
            "s_body": self.s_body,
            "s_head": self.s_head,
        }


def _fold(text: str, cap: int = _SEARCH_CAP) -> str:
    return text[:cap].casefold().replace("\x00", "")


def prepare_blob(raw: bytes) -> PreparedBlob:
    parsed = parse_message(raw)
    search = parsed.search
    assert search is not None  # the parser always sets it
    return PreparedBlob(
        sha256=hashlib.sha256(raw).hexdigest(),
        data=raw,
        parsed=parsed.to_json(),
        s_from=_fold(search.from_),
        s_to=_fold(search.to),
        s_cc=_fold(search.cc),
        s_bcc=_fold(search.bcc),
        s_subject=_fold(search.subject),
        s_body=_fold(search.body),
        s_head=_fold(search.head, HEAD_CAP),
    )


async def prepare_blob_off_loop(raw: bytes) -> PreparedBlob:
    """`prepare_blob`, off the event loop for a big message (delivery, APPEND)."""
    return await run_off_loop(len(raw), THREAD_PARSE_SIZE, prepare_blob, raw)
