"""The web role (`store.web`): browser sessions and admin API tokens.

Owns the `web_sessions` and `admin_tokens` tables. (Webmail's message pages
are the mail role's: `store.mail.message_page`.)

Web sessions are server-side: the browser holds a random id, the table holds its
SHA-256, the account, the credentials generation the session was made in and
the session's CSRF token. A session whose generation is older than the
account's (after "log out on all devices", R4) no longer works, and
`bump_credentials` deletes it too (`drop_web_sessions`).

Admin tokens are random bearer tokens for the JSON API; only their SHA-256 is
stored (they carry 256 bits of randomness, so a slow hash adds nothing).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from sqlalchemy import (
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from postfach.store.base import Role, inserted_id
from postfach.store.errors import AlreadyExists, NotFound
from postfach.store.records import AccountId, AdminToken, WebSession
from postfach.store.schema import accounts
from postfach.store.schema_access import admin_tokens, web_sessions

__all__ = ["AdminToken", "WebSession", "WebSessionStore", "drop_web_sessions", "token_digest"]

def token_digest(token: str) -> str:
    """What is stored for a session id or an admin token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def drop_web_sessions(tx: Any, account_id: AccountId) -> None:
    """All of an account's browser sessions end (log out everywhere)."""
    await tx.execute(delete(web_sessions).where(web_sessions.c.account_id == account_id))


def _session(row: Any) -> WebSession:
    return WebSession(
        AccountId(row.account_id), row.generation, row.csrf, row.created, row.expires,
        row.ip, row.last_seen, row.user_agent, row.id_sha256,
    )  # fmt: skip


class WebSessionStore(Role):
    """Browser sessions and admin tokens; see `WebSessionsApi` (store/access_api.py)."""

    # -- browser sessions ----------------------------------------------------
    async def create_web_session(
        self,
        session_id: str,
        account_id: AccountId,
        generation: int,
        csrf: str,
        lifetime: float,
        ip: str = "",
    ) -> None:
        now = time.time()
        async with self.write() as tx:
            await tx.execute(delete(web_sessions).where(web_sessions.c.expires < now))
            await tx.execute(
                insert(web_sessions).values(
                    id_sha256=token_digest(session_id),
                    account_id=account_id,
                    generation=generation,
                    csrf=csrf,
                    created=now,
                    expires=now + lifetime,
                    ip=ip[:64],
                )
            )

    async def get_web_session(self, session_id: str) -> WebSession | None:
        """The session, if it exists, has not expired and is of the account's
        current credentials generation."""
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(web_sessions)
                    .join(accounts, accounts.c.id == web_sessions.c.account_id)
                    .where(
                        web_sessions.c.id_sha256 == token_digest(session_id),
                        web_sessions.c.expires > time.time(),
                        web_sessions.c.generation == accounts.c.credentials_gen,
                    )
                )
            ).first()
        if row is None:
            return None
        return _session(row)

    async def delete_web_session(self, session_id: str) -> None:
        async with self.write() as tx:
            await tx.execute(
                delete(web_sessions).where(web_sessions.c.id_sha256 == token_digest(session_id))
            )

    async def list_web_sessions(self, account_id: AccountId) -> list[WebSession]:
        last_used = func.coalesce(web_sessions.c.last_seen, web_sessions.c.created)
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    select(web_sessions)
                    .where(
                        web_sessions.c.account_id == account_id,
                        web_sessions.c.expires > time.time(),
                    )
                    .order_by(last_used.desc())
                )
            ).all()
        return [_session(row) for row in rows]

    async def delete_web_session_by_digest(self, account_id: AccountId, id_sha256: str) -> bool:
        async with self.write() as tx:
            result = await tx.execute(
                delete(web_sessions).where(
                    web_sessions.c.account_id == account_id, web_sessions.c.id_sha256 == id_sha256
                )
            )
        return bool(result.rowcount)

    async def note_web_session_use(self, session_id: str, user_agent: str) -> None:
        async with self.write() as tx:
            await tx.execute(
                update(web_sessions)
                .where(web_sessions.c.id_sha256 == token_digest(session_id))
                .values(last_seen=time.time(), user_agent=user_agent[:200])
            )

    async def count_web_sessions(self, account_id: AccountId) -> int:
        async with self.read() as conn:
            count = await conn.scalar(
                select(func.count()).where(web_sessions.c.account_id == account_id)
            )
        return int(count or 0)

    # -- admin API tokens ----------------------------------------------------
    async def add_admin_token(self, name: str, token: str) -> AdminToken:
        now = time.time()
        try:
            async with self.write() as tx:
                result = await tx.execute(
                    insert(admin_tokens).values(
                        name=name, token_sha256=token_digest(token), created=now
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"an admin token named {name!r} exists already") from None
        return AdminToken(inserted_id(result), name, now, None)

    async def list_admin_tokens(self) -> list[AdminToken]:
        async with self.read() as conn:
            rows = (await conn.execute(select(admin_tokens).order_by(admin_tokens.c.name))).all()
        return [AdminToken(r.id, r.name, r.created, r.last_used) for r in rows]

    async def revoke_admin_token(self, name: str) -> None:
        async with self.write() as tx:
            result = await tx.execute(delete(admin_tokens).where(admin_tokens.c.name == name))
            if not result.rowcount:
                raise NotFound(f"no admin token named {name!r}")

    async def check_admin_token(self, token: str) -> AdminToken | None:
        """The token's record when it is valid; notes when it was last used
        (at most once a minute, so API calls are not all writes)."""
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(admin_tokens).where(admin_tokens.c.token_sha256 == token_digest(token))
                )
            ).first()
        if row is None:
            return None
        now = time.time()
        if row.last_used is None or now - row.last_used > 60:
            async with self.write() as tx:
                await tx.execute(
                    update(admin_tokens).where(admin_tokens.c.id == row.id).values(last_used=now)
                )
        return AdminToken(row.id, row.name, row.created, now)
