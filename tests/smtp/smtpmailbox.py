"""Reading what landed in a mailbox, through the store API."""

from __future__ import annotations

from postfach.store import Store


async def messages_in(store: Store, address: str, folder: str = "INBOX") -> list[bytes]:
    account = await store.accounts.get_account(address)
    assert account is not None
    mailbox = await store.mailboxes.get_mailbox(account.id, folder)
    assert mailbox is not None
    index = await store.mail.message_index(mailbox.id)
    stored = await store.mail.get_messages(mailbox.id, [m.uid for m in index])
    return [await store.mail.read_raw(m) for m in stored]
