"""OBJECTID (RFC 8474) and SAVEDATE (RFC 8514): the values FETCH, SEARCH, SELECT,
STATUS and LIST show for them.

MAILBOXID is the store's `objectid` of the folder, made once when the folder is
created and kept across RENAME. EMAILID is derived from what the store keeps of
a message and never changes: the digest of its per-delivery prefix and its body
blob, so a COPY or MOVE keeps it (RFC 8474 §5.1) and two messages share one only
when their octets are the same. THREADID is NIL: postfach does not keep threads
(RFC 8474 §5.2 allows it), so SEARCH THREADID finds nothing. SAVEDATE is the
moment the message entered its mailbox (APPEND, delivery, COPY or MOVE).
"""

from __future__ import annotations

import datetime
import hashlib

from postfach.imap import commands as c
from postfach.imap.grammar import format_datetime
from postfach.store.records import StoredMessage

__all__ = ["email_id", "fetch_value", "objectid_matches"]


def email_id(message: StoredMessage) -> str:
    digest = hashlib.sha256(message.prefix)
    digest.update(message.blob_sha256.encode("ascii"))
    return "M" + digest.hexdigest()[:24]


def fetch_value(name: str, message: StoredMessage) -> bytes:
    """FETCH SAVEDATE, EMAILID or THREADID, as `NAME value`."""
    if name == "SAVEDATE":
        return b'SAVEDATE "' + format_datetime(message.entered_at).encode() + b'"'
    if name == "EMAILID":
        return b"EMAILID (" + email_id(message).encode() + b")"
    return b"THREADID NIL"


def objectid_matches(message: StoredMessage, key: c.KeySaveDate | c.KeyObjectId) -> bool:
    """SEARCH SAVED* (RFC 8514 §4: the day in UTC, as BEFORE/ON/SINCE do for the
    internal date), SAVEDATESUPPORTED (every mailbox keeps save dates), EMAILID
    and THREADID (RFC 8474 §6: exact match; no THREADID matches, as it is NIL)."""
    if isinstance(key, c.KeyObjectId):
        return key.kind == "EMAILID" and key.value == email_id(message)
    if key.op == "supported":
        return True
    day = datetime.datetime.fromtimestamp(message.entered_at, datetime.UTC).date()
    want = datetime.date(*key.date)
    if key.op == "before":
        return day < want
    return day == want if key.op == "on" else day >= want
