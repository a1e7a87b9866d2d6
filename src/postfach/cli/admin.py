"""Operator commands on the store: domain, user, alias, app-password, logout-everywhere."""

from __future__ import annotations

import argparse
from typing import Any

from postfach.auth.passwords import (
    generate_app_password,
    hash_password_async,
    normalize_app_password,
)
from postfach.cli.common import format_size, open_store, parse_size, read_password, switch
from postfach.spam.decide import sender_entry
from postfach.store import NotFound, Store
from postfach.store.records import Account, Pop3Delete

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    _register_domain(sub, common)
    _register_user(sub, common)
    _register_alias(sub, common)
    _register_app_password(sub, common)
    p = sub.add_parser(
        "logout-everywhere",
        parents=[common],
        help="end every session of an account (web, IMAP, POP3, SMTP)",
    )
    p.add_argument("address")
    p.set_defaults(handler=logout_everywhere)


def _register_domain(sub: Any, common: argparse.ArgumentParser) -> None:
    domain = sub.add_parser("domain", help="mail domains this server receives for")
    dsub = domain.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = dsub.add_parser("add", parents=[common], help="add a domain (makes its DKIM key)")
    p.add_argument("domain")
    p.set_defaults(handler=domain_add)
    p = dsub.add_parser("list", parents=[common], help="list domains")
    p.set_defaults(handler=domain_list)
    p = dsub.add_parser("remove", parents=[common], help="remove a domain without accounts")
    p.add_argument("domain")
    p.set_defaults(handler=domain_remove)
    p = dsub.add_parser("dns", parents=[common], help="print the DNS records to publish")
    p.add_argument("domain")
    p.set_defaults(handler=domain_dns)


def _register_user(sub: Any, common: argparse.ArgumentParser) -> None:
    user = sub.add_parser("user", help="accounts (mailboxes)")
    usub = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = usub.add_parser("add", parents=[common], help="add an account")
    p.add_argument("address")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--quota", default="0", help="e.g. 500M, 2G (default: unlimited)")
    p.set_defaults(handler=user_add)
    p = usub.add_parser("list", parents=[common], help="list accounts and their settings")
    p.set_defaults(handler=user_list)
    p = usub.add_parser("remove", parents=[common], help="remove an account and its mail")
    p.add_argument("address")
    p.set_defaults(handler=user_remove)
    p = usub.add_parser("passwd", parents=[common], help="change an account's password")
    p.add_argument("address")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(handler=user_passwd)
    p = usub.add_parser(
        "set",
        parents=[common],
        help="change settings",
        description="Settings: imap=on|off pop3=on|off pop3-folders=INBOX,Spam "
        "pop3-mark-read=on|off pop3-delete=keep|trash|expunge save-sent=on|off quota=SIZE "
        "spam-file=SCORE|default spam-reject=SCORE|default admin=on|off (the web admin pages)",
    )
    p.add_argument("address")
    p.add_argument("settings", nargs="+", metavar="KEY=VALUE")
    p.set_defaults(handler=user_set)
    p = usub.add_parser(
        "sender",
        parents=[common],
        help="allow or block a sender or domain for an account's spam filter",
        description="allow: never filed in Spam nor refused by score; block: always filed "
        "in Spam; remove: off either list; list: show both lists.",
    )
    p.add_argument("address")
    p.add_argument("verb", choices=["allow", "block", "remove", "list"])
    p.add_argument("entry", nargs="?", help="bob@example.net or example.net")
    p.set_defaults(handler=user_sender)


def _register_alias(sub: Any, common: argparse.ArgumentParser) -> None:
    alias = sub.add_parser("alias", help="addresses that deliver to an account")
    asub = alias.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = asub.add_parser("add", parents=[common], help="add ALIAS delivering to TARGET")
    p.add_argument("alias")
    p.add_argument("target")
    p.set_defaults(handler=alias_add)
    p = asub.add_parser("list", parents=[common], help="list aliases")
    p.set_defaults(handler=alias_list)
    p = asub.add_parser("remove", parents=[common], help="remove an alias")
    p.add_argument("alias")
    p.set_defaults(handler=alias_remove)


def _register_app_password(sub: Any, common: argparse.ArgumentParser) -> None:
    app = sub.add_parser("app-password", help="passwords for mail programs, each revocable")
    psub = app.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = psub.add_parser("add", parents=[common], help="make one; it is printed once")
    p.add_argument("address")
    p.add_argument("--name", required=True, help="what it is for, e.g. 'phone'")
    p.set_defaults(handler=app_password_add)
    p = psub.add_parser("list", parents=[common], help="list an account's app passwords")
    p.add_argument("address")
    p.set_defaults(handler=app_password_list)
    p = psub.add_parser("revoke", parents=[common], help="revoke one app password")
    p.add_argument("address")
    p.add_argument("--name", required=True)
    p.set_defaults(handler=app_password_revoke)


async def _account(store: Store, address: str) -> Account:
    account = await store.accounts.get_account(address)
    if account is None:
        raise NotFound(f"no account {address}")
    return account


# -- domain -------------------------------------------------------------------
async def domain_add(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        selector, key = _dkim_key()
        domain = await store.accounts.add_domain(args.domain, selector, key)
    print(f"added domain {domain.name}" + (f" (DKIM selector {selector})" if selector else ""))
    print(f"publish its DNS records: postfach domain dns {domain.name}")
    return 0


def _dkim_key() -> tuple[str, str]:
    from postfach.dkim import generate_key

    selector, private_pem, _public = generate_key()
    return selector, private_pem


async def domain_list(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        domains = await store.accounts.list_domains()
        accounts = await store.accounts.list_accounts()
    if not domains:
        print("no domains: add one with `postfach domain add DOMAIN`")
    for domain in domains:
        count = sum(1 for a in accounts if a.domain == domain.name)
        dkim = f"dkim={domain.dkim_selector}" if domain.dkim_selector else "dkim=none"
        print(f"{domain.name}  accounts={count}  {dkim}")
    return 0


async def domain_remove(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        await store.accounts.remove_domain(args.domain)
    print(f"removed domain {args.domain}")
    return 0


async def domain_dns(args: argparse.Namespace) -> int:
    async with open_store(args) as (config, store):
        domain = await store.accounts.get_domain(args.domain)
        if domain is None:
            raise NotFound(f"no domain {args.domain}")
        from postfach.dkim import dns_records

        for record in dns_records(domain, config):
            print(record)
    return 0


# -- user ---------------------------------------------------------------------
async def user_add(args: argparse.Namespace) -> int:
    address = args.address.strip().lower()
    if address.count("@") != 1 or not all(address.split("@")):
        raise ValueError(f"not an address: {args.address!r} (expected user@domain)")
    quota = parse_size(args.quota)
    password = read_password(args.password_stdin)
    async with open_store(args) as (_config, store):
        if await store.accounts.get_domain(address.split("@")[1]) is None:
            raise NotFound(
                f"no domain {address.split('@')[1]}: add it first with `postfach domain add`"
            )
        account = await store.accounts.add_account(
            address, await hash_password_async(password), quota
        )
    print(f"added {account.address} with folders INBOX, Sent, Drafts, Spam, Trash")
    return 0


def _describe(account: Account) -> str:
    quota = format_size(account.quota_bytes) if account.quota_bytes else "unlimited"
    onoff = {True: "on", False: "off"}
    return (
        f"{account.address}  used={format_size(account.used_bytes)} quota={quota}"
        f" imap={onoff[account.imap_enabled]} pop3={onoff[account.pop3_enabled]}"
        f" pop3-folders={','.join(account.pop3_folders)}"
        f" pop3-mark-read={onoff[account.pop3_mark_read]}"
        f" pop3-delete={account.pop3_delete.value} save-sent={onoff[account.save_sent]}"
        + (" admin=on" if account.admin else "")
    )


async def user_list(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        accounts = await store.accounts.list_accounts()
    if not accounts:
        print("no accounts: add one with `postfach user add ADDRESS`")
    for account in accounts:
        print(_describe(account))
    return 0


async def user_remove(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        await store.accounts.remove_account(args.address)
    print(f"removed {args.address} and its mail")
    return 0


async def user_passwd(args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin, "New password: ")
    async with open_store(args) as (_config, store):
        account = await _account(store, args.address)
        await store.accounts.set_password_hash(account.id, await hash_password_async(password))
    print(f"changed the password of {account.address}; the old one no longer works")
    return 0


def parse_settings(pairs: list[str]) -> dict[str, object]:
    """`imap=off pop3-folders=INBOX,Spam` → store settings."""
    settings: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower()
        if not sep:
            raise ValueError(f"{pair!r}: expected KEY=VALUE")
        if key in {"imap", "pop3", "pop3-mark-read", "save-sent", "admin"}:
            name = {"imap": "imap_enabled", "pop3": "pop3_enabled"}.get(key, key.replace("-", "_"))
            settings[name] = switch(value, key)
        elif key == "pop3-folders":
            folders = tuple(f.strip() for f in value.split(",") if f.strip())
            settings["pop3_folders"] = folders or ("INBOX",)
        elif key == "pop3-delete":
            choices = {d.value for d in Pop3Delete}
            if value not in choices:
                raise ValueError(
                    f"pop3-delete={value}: expected one of {', '.join(sorted(choices))}"
                )
            settings["pop3_delete"] = Pop3Delete(value)
        elif key == "quota":
            settings["quota_bytes"] = parse_size(value)
        elif key in _SPAM_KEYS:
            settings[_SPAM_KEYS[key]] = _threshold(key, value)
        else:
            raise ValueError(
                f"unknown setting {key!r}: use imap, pop3, pop3-folders, pop3-mark-read, "
                "pop3-delete, save-sent, quota, spam-file, spam-reject, admin"
            )
    return settings


_SPAM_KEYS = {"spam-file": "spam_file", "spam-reject": "spam_reject"}


def _threshold(key: str, value: str) -> float | None:
    """A score, or "default" for the server's (`[spam]` in the config)."""
    if value.strip().lower() == "default":
        return None
    try:
        score = float(value)
    except ValueError:
        raise ValueError(f"{key}={value}: expected a score such as 5.0, or default") from None
    if score != score or score in (float("inf"), float("-inf")):
        raise ValueError(f"{key}={value}: expected a finite score")
    return score


async def user_set(args: argparse.Namespace) -> int:
    settings = parse_settings(args.settings)
    spam = {key: settings.pop(key) for key in _SPAM_KEYS.values() if key in settings}
    async with open_store(args) as (_config, store):
        account = await _account(store, args.address)
        if spam:
            await _set_thresholds(store, account, spam)
            if not settings:
                print(await _describe_spam(store, account))
                return 0
        folders = settings.get("pop3_folders")
        if isinstance(folders, tuple):
            for folder in folders:
                if await store.mailboxes.get_mailbox(account.id, folder) is None:
                    raise NotFound(f"{account.address} has no folder {folder!r}")
        account = await store.accounts.update_account(account.id, **settings)
    print(_describe(account))
    return 0


async def _set_thresholds(store: Store, account: Account, changes: dict[str, object]) -> None:
    current = await store.spam.settings(account.id)
    file = changes.get("spam_file", current.file_threshold)
    reject = changes.get("spam_reject", current.reject_threshold)
    assert file is None or isinstance(file, float)
    assert reject is None or isinstance(reject, float)
    await store.spam.set_thresholds(account.id, file, reject)


async def _describe_spam(store: Store, account: Account) -> str:
    spam = await store.spam.settings(account.id)

    def shown(value: float | None) -> str:
        return "default" if value is None else f"{value:g}"

    return (
        f"{account.address}: spam-file={shown(spam.file_threshold)} "
        f"spam-reject={shown(spam.reject_threshold)} "
        f"allow={','.join(sorted(spam.allow)) or '-'} block={','.join(sorted(spam.block)) or '-'}"
    )


async def user_sender(args: argparse.Namespace) -> int:
    if args.verb != "list" and not args.entry:
        raise ValueError(f"user sender {args.verb}: name an address or a domain")
    async with open_store(args) as (_config, store):
        account = await _account(store, args.address)
        if args.verb == "remove":
            await store.spam.remove_sender(account.id, args.entry)
        elif args.verb != "list":
            await store.spam.set_sender(account.id, sender_entry(args.entry), args.verb)
        print(await _describe_spam(store, account))
    return 0


# -- alias --------------------------------------------------------------------
async def alias_add(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        if await store.accounts.get_domain(args.alias.rpartition("@")[2]) is None:
            raise NotFound(f"no domain {args.alias.rpartition('@')[2]} for alias {args.alias}")
        if not await store.accounts.resolve(args.target) and "@" in args.target:
            target_domain = args.target.rpartition("@")[2]
            if await store.accounts.get_domain(target_domain) is not None:
                raise NotFound(f"no account or alias {args.target}")
        alias = await store.accounts.add_alias(args.alias, args.target)
    print(f"added alias {alias.address} -> {alias.target}")
    return 0


async def alias_list(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        aliases = await store.accounts.list_aliases()
    if not aliases:
        print("no aliases")
    for alias in aliases:
        print(f"{alias.address} -> {alias.target}")
    return 0


async def alias_remove(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        await store.accounts.remove_alias(args.alias)
    print(f"removed alias {args.alias}")
    return 0


# -- app passwords and sessions -----------------------------------------------
async def app_password_add(args: argparse.Namespace) -> int:
    password = generate_app_password()
    async with open_store(args) as (_config, store):
        account = await _account(store, args.address)
        digest = await hash_password_async(normalize_app_password(password))
        await store.accounts.add_app_password(account.id, args.name, digest)
    print(f"app password {args.name!r} for {account.address} (shown only now):")
    print(password)
    return 0


async def app_password_list(args: argparse.Namespace) -> int:
    import datetime

    async with open_store(args) as (_config, store):
        account = await _account(store, args.address)
        passwords = await store.accounts.list_app_passwords(account.id)
    if not passwords:
        print(f"{account.address} has no app passwords")
    for app in passwords:
        created = datetime.datetime.fromtimestamp(app.created).strftime("%Y-%m-%d %H:%M")
        print(f"{app.name}  created {created}")
    return 0


async def app_password_revoke(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        account = await _account(store, args.address)
        await store.accounts.revoke_app_password(account.id, args.name)
    print(f"revoked app password {args.name!r} of {account.address}")
    return 0


async def logout_everywhere(args: argparse.Namespace) -> int:
    async with open_store(args) as (_config, store):
        account = await _account(store, args.address)
        await store.accounts.bump_credentials(account.id)
    print(f"ended every session of {account.address}; saved logins must sign in again")
    return 0
