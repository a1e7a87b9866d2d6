"""Rows of the mail tables as records, and the prepared look-ups the roles share.

Owns no table: it reads `mailboxes`, `messages` and `blobs` for store/mailboxes.py,
store/mail.py and store/mail_sql.py.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Select,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
)

from postfach.store.records import (
    AccountId,
    Mailbox,
    MailboxId,
    ModSeq,
    SpecialUse,
    StoredMessage,
    Uid,
)
from postfach.store.rules import parse_flags
from postfach.store.schema import blobs, expunged, mailboxes, messages, subscriptions

__all__ = [
    "BLOB_DATA",
    "CHANGES_SINCE",
    "MAILBOX_BY_ID",
    "MAILBOX_BY_NAME",
    "MAILBOXES_OF",
    "PREPARED_UIDS",
    "STATUS_COUNTS",
    "STORED_COLUMNS",
    "STORED_SELECT",
    "SUBSCRIPTIONS_OF",
    "blobs_by_sha",
    "messages_by_uids",
    "to_mailbox",
    "to_stored",
]

def to_mailbox(row: Any) -> Mailbox:
    special = row.special_use
    return Mailbox(
        id=MailboxId(row.id),
        account_id=AccountId(row.account_id),
        name=row.name,
        special_use=SpecialUse(special) if special else None,
        uidvalidity=row.uidvalidity,
        uidnext=Uid(row.uidnext),
        highestmodseq=ModSeq(row.highestmodseq),
        objectid=row.objectid or "",
    )


def to_stored(row: Any) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        mailbox_id=MailboxId(row.mailbox_id),
        uid=Uid(row.uid),
        modseq=ModSeq(row.modseq),
        flags=parse_flags(row.flags),
        internaldate=row.internaldate,
        size=row.size,
        blob_sha256=row.blob_sha256,
        prefix=bytes(row.prefix),
        parsed=row.parsed,
        entered_at=row.entered_at,
    )


STORED_COLUMNS = (
    messages.c.id,
    messages.c.mailbox_id,
    messages.c.uid,
    messages.c.modseq,
    messages.c.flags,
    messages.c.internaldate,
    messages.c.size,
    messages.c.blob_sha256,
    messages.c.prefix,
    messages.c.entered_at,
    blobs.c.parsed,
)
# A message row with its blob's parse: what StoredMessage is made of (`to_stored`).
STORED_SELECT = select(*STORED_COLUMNS).join(
    blobs, blobs.c.sha256 == messages.c.blob_sha256
)


# Hot look-ups, compiled once and run straight on the driver (StoreBase.fetch).
MAILBOX_BY_NAME = select(mailboxes).where(
    mailboxes.c.account_id == bindparam("account_id"), mailboxes.c.name == bindparam("name")
)
MAILBOX_BY_ID = select(mailboxes).where(mailboxes.c.id == bindparam("id"))
# LIST, LSUB and STATUS: every command of a mail program's folder view.
MAILBOXES_OF = (
    select(mailboxes)
    .where(mailboxes.c.account_id == bindparam("account_id"))
    .order_by(mailboxes.c.name)
)
SUBSCRIPTIONS_OF = select(subscriptions.c.name).where(
    subscriptions.c.account_id == bindparam("account_id")
)
STATUS_COUNTS = (
    select(
        messages.c.flags,
        func.count().label("count"),
        func.coalesce(func.sum(messages.c.size), literal_column("0")).label("octets"),
    )
    .where(messages.c.mailbox_id == bindparam("mailbox_id"))
    .group_by(messages.c.flags)
)
BLOB_DATA = select(blobs.c.data).where(blobs.c.sha256 == bindparam("sha256"))
PREPARED_UIDS = 32

# changes_since: kind 0 the mailbox row, 1 a message past the MODSEQ, 2 an expunged UID.
_SINCE: BindParameter[int] = bindparam("modseq")
CHANGES_SINCE: CompoundSelect[Any] = union_all(
    select(
        literal_column("0").label("kind"),
        literal_column("0").label("uid"),
        mailboxes.c.highestmodseq.label("modseq"),
        literal_column("''").label("flags"),
    ).where(mailboxes.c.id == bindparam("mailbox_id")),
    select(literal_column("1"), messages.c.uid, messages.c.modseq, messages.c.flags).where(
        messages.c.mailbox_id == bindparam("mailbox_id"), messages.c.modseq > _SINCE
    ),
    select(literal_column("2"), expunged.c.uid, expunged.c.modseq, literal_column("''")).where(
        expunged.c.mailbox_id == bindparam("mailbox_id"), expunged.c.modseq > _SINCE
    ),
).order_by("kind", "uid")


@functools.cache
def blobs_by_sha(count: int) -> Select[Any]:
    """read_blobs for `count` blobs (bound as s0, s1, ...), built once per count."""
    return select(blobs.c.sha256, blobs.c.data).where(
        blobs.c.sha256.in_([bindparam(f"s{i}") for i in range(count)])
    )


@functools.cache
def messages_by_uids(count: int) -> Select[Any]:
    """get_messages for `count` UIDs (bound as u0, u1, ...), built once per count."""
    return (
        STORED_SELECT
        .where(
            messages.c.mailbox_id == bindparam("mailbox_id"),
            messages.c.uid.in_([bindparam(f"u{i}") for i in range(count)]),
        )
        .order_by(messages.c.uid)
    )

