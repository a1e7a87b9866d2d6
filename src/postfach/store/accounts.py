"""The accounts role (`store.accounts`): domains, accounts, aliases and app passwords.

Owns the `domains`, `accounts`, `aliases` and `app_passwords` tables. Creating an
account creates its standard folders (store/mailboxes.py); removing one removes
its folders, messages and subscriptions too, and "log out everywhere" drops its
web sessions (store/web.py). Credential changes publish `ChangeCredentials`.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from postfach.store.base import Role, inserted_id
from postfach.store.errors import AlreadyExists, NotFound
from postfach.store.events import ChangeCredentials
from postfach.store.mail_sql import collect_blobs
from postfach.store.mailboxes import insert_mailbox
from postfach.store.records import (
    DEFAULT_MAILBOXES,
    Account,
    AccountId,
    Alias,
    AppPassword,
    Domain,
    Pop3Delete,
)
from postfach.store.schema import (
    accounts,
    aliases,
    app_passwords,
    domains,
    mailboxes,
    messages,
    subscriptions,
)
from postfach.store.settings_cache import bump_generation
from postfach.store.web import drop_web_sessions

__all__ = ["AccountsStore", "normalize_address"]

_SETTINGS = frozenset(
    {
        "quota_bytes",
        "imap_enabled",
        "pop3_enabled",
        "pop3_folders",
        "pop3_mark_read",
        "pop3_delete",
        "save_sent",
        "admin",
    }
)


def normalize_address(address: str) -> str:
    """Domains are case-insensitive; so are local parts here, as at every large provider."""
    return address.strip().lower()


def _account(row: Any) -> Account:
    return Account(
        id=AccountId(row.id),
        address=row.address,
        password_hash=row.password_hash,
        quota_bytes=row.quota_bytes,
        used_bytes=row.used_bytes,
        imap_enabled=bool(row.imap_enabled),
        pop3_enabled=bool(row.pop3_enabled),
        pop3_folders=tuple(f for f in row.pop3_folders.split("\n") if f),
        pop3_mark_read=bool(row.pop3_mark_read),
        pop3_delete=Pop3Delete(row.pop3_delete),
        save_sent=bool(row.save_sent),
        credentials_gen=row.credentials_gen,
        admin=bool(row.admin),
    )


_ACCOUNT_BY_ADDRESS = select(accounts).where(accounts.c.address == bindparam("address"))
_ACCOUNT_BY_ID = select(accounts).where(accounts.c.id == bindparam("id"))


def _domain(row: Any) -> Domain:
    return Domain(row.id, row.name, row.dkim_selector, row.dkim_private_key)


class AccountsStore(Role):
    """Who may log in, and where mail to an address goes; see `AccountsApi`."""

    # -- domains -------------------------------------------------------------
    async def add_domain(self, name: str, dkim_selector: str = "", dkim_key: str = "") -> Domain:
        name = normalize_address(name)
        try:
            async with self.write() as tx:
                await tx.execute(
                    insert(domains).values(
                        name=name,
                        dkim_selector=dkim_selector,
                        dkim_private_key=dkim_key,
                        created=time.time(),
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"domain {name} exists already") from None
        domain = await self.get_domain(name)
        assert domain is not None
        return domain

    async def get_domain(self, name: str) -> Domain | None:
        async with self.read() as conn:
            row = (
                await conn.execute(select(domains).where(domains.c.name == normalize_address(name)))
            ).first()
        return _domain(row) if row else None

    async def list_domains(self) -> list[Domain]:
        async with self.read() as conn:
            rows = (await conn.execute(select(domains).order_by(domains.c.name))).all()
        return [_domain(r) for r in rows]

    async def remove_domain(self, name: str) -> None:
        name = normalize_address(name)
        async with self.write() as tx:
            users = await tx.scalar(
                select(func.count()).where(accounts.c.address.like(f"%@{name}"))
            )
            if users:
                raise AlreadyExists(
                    f"domain {name} still has {users} account(s): remove them first"
                )
            result = await tx.execute(delete(domains).where(domains.c.name == name))
            if not result.rowcount:
                raise NotFound(f"no domain {name}")

    # -- accounts ------------------------------------------------------------
    async def add_account(self, address: str, password_hash: str, quota_bytes: int = 0) -> Account:
        address = normalize_address(address)
        now = time.time()
        try:
            async with self.write() as tx:
                result = await tx.execute(
                    insert(accounts).values(
                        address=address,
                        password_hash=password_hash,
                        quota_bytes=quota_bytes,
                        used_bytes=0,
                        imap_enabled=True,
                        pop3_enabled=True,
                        pop3_folders="INBOX",
                        pop3_mark_read=False,
                        pop3_delete=Pop3Delete.KEEP.value,
                        save_sent=False,
                        credentials_gen=1,
                        created=now,
                    )
                )
                account_id = inserted_id(result)
                for name, special_use in DEFAULT_MAILBOXES:
                    await insert_mailbox(tx, account_id, name, special_use)
        except IntegrityError:
            raise AlreadyExists(f"account {address} exists already") from None
        account = await self.get_account(address)
        assert account is not None
        return account

    async def get_account(self, address: str) -> Account | None:
        rows = await self.fetch(_ACCOUNT_BY_ADDRESS, address=normalize_address(address))
        return _account(rows[0]) if rows else None

    async def get_account_by_id(self, account_id: AccountId) -> Account | None:
        rows = await self.fetch(_ACCOUNT_BY_ID, id=account_id)
        return _account(rows[0]) if rows else None

    async def first_account(self) -> Account | None:
        """The account made first: the operator's, who gets postmaster@ by default."""
        async with self.read() as conn:
            row = (await conn.execute(select(accounts).order_by(accounts.c.id).limit(1))).first()
        return _account(row) if row is not None else None

    async def list_accounts(self) -> list[Account]:
        async with self.read() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.address))).all()
        return [_account(r) for r in rows]

    async def remove_account(self, address: str) -> None:
        address = normalize_address(address)
        async with self.write() as tx:
            account_id = await tx.scalar(select(accounts.c.id).where(accounts.c.address == address))
            if account_id is None:
                raise NotFound(f"no account {address}")
            # Explicit deletes: the blobs are collected after their messages go.
            boxes = select(mailboxes.c.id).where(mailboxes.c.account_id == account_id)
            shas = set(
                (
                    await tx.execute(
                        select(messages.c.blob_sha256).where(messages.c.mailbox_id.in_(boxes))
                    )
                ).scalars()
            )
            await tx.execute(delete(messages).where(messages.c.mailbox_id.in_(boxes)))
            await tx.execute(delete(mailboxes).where(mailboxes.c.account_id == account_id))
            await tx.execute(delete(subscriptions).where(subscriptions.c.account_id == account_id))
            await tx.execute(delete(app_passwords).where(app_passwords.c.account_id == account_id))
            await tx.execute(delete(aliases).where(aliases.c.target == address))
            await tx.execute(delete(accounts).where(accounts.c.id == account_id))
            await collect_blobs(tx, shas)
            # Its spam settings and scripts went with it (ON DELETE CASCADE); the
            # id may come back with the next account on SQLite.
            generation = await bump_generation(tx)
        self.hub.publish(AccountId(account_id), [ChangeCredentials(0, logout=True)])
        self.settings_written(AccountId(account_id), generation)

    async def set_password_hash(self, account_id: AccountId, password_hash: str) -> None:
        async with self.write() as tx:
            await tx.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(password_hash=password_hash)
            )
        self.hub.publish(account_id, [ChangeCredentials(0, logout=False)])

    async def update_account(self, account_id: AccountId, **settings: object) -> Account:
        unknown = set(settings) - _SETTINGS
        if unknown:
            raise ValueError(f"unknown account setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, object] = dict(settings)
        if "pop3_folders" in values:
            folders = values["pop3_folders"]
            assert isinstance(folders, tuple | list)
            values["pop3_folders"] = "\n".join(str(f) for f in folders)
        if "pop3_delete" in values:
            values["pop3_delete"] = Pop3Delete(str(values["pop3_delete"])).value
        async with self.write() as tx:
            result = await tx.execute(
                update(accounts).where(accounts.c.id == account_id).values(**values)
            )
            if not result.rowcount:
                raise NotFound(f"no account #{account_id}")
        account = await self.get_account_by_id(account_id)
        assert account is not None
        return account

    async def bump_credentials(self, account_id: AccountId) -> int:
        async with self.write() as tx:
            await tx.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(credentials_gen=accounts.c.credentials_gen + 1)
            )
            generation = await tx.scalar(
                select(accounts.c.credentials_gen).where(accounts.c.id == account_id)
            )
            if generation is None:
                raise NotFound(f"no account #{account_id}")
            await drop_web_sessions(tx, account_id)
        self.hub.publish(account_id, [ChangeCredentials(int(generation), logout=True)])
        return int(generation)

    # -- aliases -------------------------------------------------------------
    async def add_alias(self, address: str, target: str) -> Alias:
        address, target = normalize_address(address), normalize_address(target)
        try:
            async with self.write() as tx:
                await tx.execute(insert(aliases).values(address=address, target=target))
        except IntegrityError:
            raise AlreadyExists(f"alias {address} -> {target} exists already") from None
        return Alias(address, target)

    async def list_aliases(self) -> list[Alias]:
        async with self.read() as conn:
            rows = (
                await conn.execute(select(aliases).order_by(aliases.c.address, aliases.c.target))
            ).all()
        return [Alias(r.address, r.target) for r in rows]

    async def remove_alias(self, address: str) -> None:
        async with self.write() as tx:
            result = await tx.execute(
                delete(aliases).where(aliases.c.address == normalize_address(address))
            )
            if not result.rowcount:
                raise NotFound(f"no alias {address}")

    async def aliases_for(self, account_id: AccountId) -> list[str]:
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    select(aliases.c.address)
                    .join(accounts, accounts.c.address == aliases.c.target)
                    .where(accounts.c.id == account_id)
                    .order_by(aliases.c.address)
                )
            ).all()
        return [r[0] for r in rows]

    async def resolve(self, address: str) -> list[Account]:
        """An account's own address wins; an alias may fan out, one level deep
        and then one more (alias of alias), never looping."""
        address = normalize_address(address)
        seen: set[str] = set()
        found: dict[int, Account] = {}
        pending = [address]
        for _depth in range(3):
            next_round: list[str] = []
            for name in pending:
                if name in seen:
                    continue
                seen.add(name)
                account = await self.get_account(name)
                if account is not None:
                    found.setdefault(account.id, account)
                    continue
                async with self.read() as conn:
                    rows = (
                        await conn.execute(
                            select(aliases.c.target).where(aliases.c.address == name)
                        )
                    ).all()
                next_round.extend(r[0] for r in rows)
            pending = next_round
            if not pending:
                break
        return list(found.values())

    # -- app passwords -------------------------------------------------------
    async def add_app_password(
        self, account_id: AccountId, name: str, password_hash: str
    ) -> AppPassword:
        now = time.time()
        try:
            async with self.write() as tx:
                result = await tx.execute(
                    insert(app_passwords).values(
                        account_id=account_id, name=name, password_hash=password_hash, created=now
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"an app password named {name!r} exists already") from None
        return AppPassword(
            inserted_id(result), account_id, name, password_hash, now
        )

    async def list_app_passwords(self, account_id: AccountId) -> list[AppPassword]:
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    select(app_passwords)
                    .where(app_passwords.c.account_id == account_id)
                    .order_by(app_passwords.c.name)
                )
            ).all()
        return [
            AppPassword(r.id, AccountId(r.account_id), r.name, r.password_hash, r.created)
            for r in rows
        ]

    async def revoke_app_password(self, account_id: AccountId, name: str) -> None:
        async with self.write() as tx:
            result = await tx.execute(
                delete(app_passwords).where(
                    app_passwords.c.account_id == account_id, app_passwords.c.name == name
                )
            )
            if not result.rowcount:
                raise NotFound(f"no app password named {name!r}")
        self.hub.publish(account_id, [ChangeCredentials(0, logout=False)])
