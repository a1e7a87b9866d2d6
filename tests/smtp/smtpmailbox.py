"""Reading what landed in a mailbox, through the store API."""

from __future__ import annotations

from postfach.store import Store


async def messages_in(store: Store, address: str, folder: str = "INBOX") -> list[bytes]:
    account = await store.get_account(address)
    assert account is not None
    mailbox = await store.get_mailbox(account.id, folder)
    assert mailbox is not None
    index = await store.message_index(mailbox.id)
    stored = await store.get_messages(mailbox.id, [m.uid for m in index])
    return [await store.read_raw(m) for m in stored]
