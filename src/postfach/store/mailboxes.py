"""The mailboxes role (`store.mailboxes`): folders, subscriptions, folder status.

Owns the `mailboxes` and `subscriptions` tables (and the UIDVALIDITY counter in
`meta`). A mailbox's messages belong to the mail role (store/mail.py), which
this role asks to move INBOX's messages when INBOX is renamed. Every mutation
commits first and then publishes `Change` values on the hub.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from postfach.store import mail_sql
from postfach.store.base import Role, StoreBase, inserted_id
from postfach.store.errors import AlreadyExists, NotFound, StoreError
from postfach.store.events import ChangeMailboxes
from postfach.store.mail_rows import (
    MAILBOX_BY_ID,
    MAILBOX_BY_NAME,
    MAILBOXES_OF,
    STATUS_COUNTS,
    SUBSCRIPTIONS_OF,
    to_mailbox,
)
from postfach.store.migrations import new_objectid
from postfach.store.records import AccountId, Mailbox, MailboxId, MailboxStatus
from postfach.store.rules import parse_flags
from postfach.store.schema import expunged, mailboxes, messages, meta, subscriptions

if TYPE_CHECKING:
    from postfach.store.mail import MailStore

__all__ = ["MailboxStore", "insert_mailbox", "next_uidvalidity"]


async def next_uidvalidity(tx: Any) -> int:
    """UIDVALIDITY strictly increases, so a recreated folder never repeats one."""
    row = (await tx.execute(select(meta.c.value).where(meta.c.key == "uidvalidity"))).first()
    value = max(int(row[0]) + 1 if row else 1, int(time.time()))
    value = value % 0xFFFFFFFF or 1
    await tx.execute(update(meta).where(meta.c.key == "uidvalidity").values(value=str(value)))
    return value


async def insert_mailbox(tx: Any, account_id: int, name: str, special_use: str | None) -> int:
    result = await tx.execute(
        insert(mailboxes).values(
            account_id=account_id,
            name=name,
            special_use=special_use,
            uidvalidity=await next_uidvalidity(tx),
            uidnext=1,
            highestmodseq=1,
            objectid=new_objectid(),
        )
    )
    return inserted_id(result)


class MailboxStore(Role):
    """An account's folders; see `MailboxesApi` (store/api.py) for the contract."""

    def __init__(self, db: StoreBase, mail: MailStore) -> None:
        super().__init__(db)
        self._mail = mail

    async def list_mailboxes(self, account_id: AccountId) -> list[Mailbox]:
        return [to_mailbox(r) for r in await self.fetch(MAILBOXES_OF, account_id=account_id)]

    async def get_mailbox(self, account_id: AccountId, name: str) -> Mailbox | None:
        if name.upper() == "INBOX":
            name = "INBOX"
        rows = await self.fetch(MAILBOX_BY_NAME, account_id=account_id, name=name)
        return to_mailbox(rows[0]) if rows else None

    async def get_mailbox_by_id(self, mailbox_id: MailboxId) -> Mailbox | None:
        rows = await self.fetch(MAILBOX_BY_ID, id=mailbox_id)
        return to_mailbox(rows[0]) if rows else None

    async def special_mailbox(self, account_id: AccountId, special_use: str) -> Mailbox | None:
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(mailboxes)
                    .where(
                        mailboxes.c.account_id == account_id,
                        mailboxes.c.special_use == special_use,
                    )
                    .order_by(mailboxes.c.id)
                )
            ).first()
        return to_mailbox(row) if row else None

    async def create_mailbox(
        self, account_id: AccountId, name: str, special_use: str | None = None
    ) -> Mailbox:
        if name.upper() == "INBOX":
            raise AlreadyExists("INBOX exists already")
        try:
            async with self.write() as tx:
                mailbox_id = await insert_mailbox(tx, account_id, name, special_use)
        except IntegrityError:
            raise AlreadyExists(f"mailbox {name} exists already") from None
        self.hub.publish(account_id, [ChangeMailboxes()])
        mailbox = await self.get_mailbox_by_id(MailboxId(mailbox_id))
        assert mailbox is not None
        return mailbox

    async def delete_mailbox(self, account_id: AccountId, name: str) -> None:
        if name.upper() == "INBOX":
            raise StoreError("INBOX cannot be deleted")
        async with self.write() as tx:
            mailbox_id = await tx.scalar(
                select(mailboxes.c.id).where(
                    mailboxes.c.account_id == account_id, mailboxes.c.name == name
                )
            )
            if mailbox_id is None:
                raise NotFound(f"no mailbox {name}")
            await mail_sql.remove_rows(tx, self.dialect, [messages.c.mailbox_id == mailbox_id])
            await tx.execute(delete(expunged).where(expunged.c.mailbox_id == mailbox_id))
            await tx.execute(delete(mailboxes).where(mailboxes.c.id == mailbox_id))
        self.hub.publish(account_id, [ChangeMailboxes()])

    async def rename_mailbox(self, account_id: AccountId, old: str, new: str) -> None:
        if new.upper() == "INBOX":
            raise AlreadyExists("INBOX exists already")
        if old.upper() == "INBOX":
            await self._rename_inbox(account_id, new)
            return
        try:
            async with self.write() as tx:
                rows = (
                    await tx.execute(
                        select(mailboxes.c.id, mailboxes.c.name).where(
                            mailboxes.c.account_id == account_id,
                            or_(mailboxes.c.name == old, mailboxes.c.name.startswith(old + "/")),
                        )
                    )
                ).all()
                if not any(r.name == old for r in rows):
                    raise NotFound(f"no mailbox {old}")
                for row in rows:
                    # A renamed folder is a new folder to clients: new UIDVALIDITY.
                    await tx.execute(
                        update(mailboxes)
                        .where(mailboxes.c.id == row.id)
                        .values(
                            name=new + row.name[len(old) :],
                            uidvalidity=await next_uidvalidity(tx),
                        )
                    )
        except IntegrityError:
            raise AlreadyExists(f"mailbox {new} exists already") from None
        self.hub.publish(account_id, [ChangeMailboxes()])

    async def _rename_inbox(self, account_id: AccountId, new: str) -> None:
        """RFC 3501 §6.3.5: INBOX's messages move to the new folder; INBOX stays, empty."""
        inbox = await self.get_mailbox(account_id, "INBOX")
        assert inbox is not None
        target = await self.create_mailbox(account_id, new)
        uids = [m.uid for m in await self._mail.message_index(inbox.id)]
        if uids:
            await self._mail.move_messages(inbox.id, uids, target.id)

    async def subscriptions(self, account_id: AccountId) -> set[str]:
        return {r.name for r in await self.fetch(SUBSCRIPTIONS_OF, account_id=account_id)}

    async def set_subscribed(self, account_id: AccountId, name: str, subscribed: bool) -> None:
        if name.upper() == "INBOX":
            name = "INBOX"
        async with self.write() as tx:
            await tx.execute(
                delete(subscriptions).where(
                    subscriptions.c.account_id == account_id, subscriptions.c.name == name
                )
            )
            if subscribed:
                await tx.execute(insert(subscriptions).values(account_id=account_id, name=name))
        self.hub.publish(account_id, [ChangeMailboxes()])  # IMAP NOTIFY SubscriptionChange

    async def mailbox_status(self, mailbox_id: MailboxId) -> MailboxStatus:
        mailbox = await self.get_mailbox_by_id(mailbox_id)
        if mailbox is None:
            raise NotFound(f"no mailbox #{mailbox_id}")
        rows = await self.fetch(STATUS_COUNTS, mailbox_id=mailbox_id)
        total = unseen = deleted = size = 0
        for flags_text, count, octets in rows:
            flags = parse_flags(flags_text)
            total += count
            size += int(octets)
            if "\\Seen" not in flags:
                unseen += count
            if "\\Deleted" in flags:
                deleted += count
        return MailboxStatus(mailbox, total, unseen, size, deleted)
