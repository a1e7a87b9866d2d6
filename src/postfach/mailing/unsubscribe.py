"""One-click unsubscribe (RFC 8058): what `POST /unsubscribe/{token}` calls.

Every campaign message carries `List-Unsubscribe: <https://host/unsubscribe/T>`
and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The web listener
answers the POST by calling `unsubscribe(ctx.mailing, token)`; the contact is marked
and gets no further campaigns from that list. The token is the recipient's
random token (mailing/tokens.py), so no key is needed to check it.
"""

from __future__ import annotations

from postfach.mailing.tokens import TOKEN_RE
from postfach.store import Store
from postfach.store.mailing import MailingStore

__all__ = ["unsubscribe"]


async def unsubscribe(store: Store | MailingStore, token: str) -> bool:
    """Marks the contact behind `token` unsubscribed; False if the token is unknown.
    `postfach serve` passes the context's MailingStore; a bare store is attached."""
    token = token.strip().lower()
    if not TOKEN_RE.fullmatch(token):
        return False
    mailing = store if isinstance(store, MailingStore) else store.mailing
    return await mailing.unsubscribe(token)
