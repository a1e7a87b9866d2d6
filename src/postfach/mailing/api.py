"""The mailing facade: what the CLI and the admin API call (R22–R26).

`Mailing` holds the store, the config, the password vault and the clock, and
offers one method per operator action. Nothing here prints; results are
dataclasses the callers render.
"""

from __future__ import annotations

import mimetypes
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from postfach.config import Config
from postfach.mailing.bouncebox import BoxResult, MailboxError, check_box
from postfach.mailing.clock import Clock, SystemClock
from postfach.mailing.compose import check_templates
from postfach.mailing.contacts import CsvContacts, parse_csv
from postfach.mailing.relays import RelayConfigError, RelaySettings, parse_security
from postfach.mailing.scheduler import Progress, RunReport, Scheduler, SchedulerSettings
from postfach.mailing.transport import (
    InternalConnection,
    RelayConnection,
    RelayUnavailable,
    connect_external,
)
from postfach.mailing.vault import Vault
from postfach.store import Store
from postfach.store.mailing import (
    BounceBox,
    Campaign,
    MailingStore,
    Quota,
    RecipientRow,
    Relay,
)

if TYPE_CHECKING:
    from postfach.context import ServerContext

__all__ = [
    "BounceBoxSettings",
    "CampaignView",
    "ImportReport",
    "Mailing",
    "MailingError",
    "RelayStatus",
]


class MailingError(ValueError):
    """An operator error, one line (the CLI prints it as `postfach: ...`)."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    list_name: str
    added: int
    merged: int
    errors: list[tuple[int, str]]
    columns: list[str]


@dataclass(frozen=True, slots=True)
class RelayStatus:
    relay: Relay
    quota: Quota


@dataclass(frozen=True, slots=True)
class CampaignView:
    campaign: Campaign
    list_name: str
    counts: dict[str, int]
    recipients: list[RecipientRow]


@dataclass(frozen=True, slots=True)
class BounceBoxSettings:
    name: str
    host: str
    port: int
    login: str
    password: str = field(repr=False)
    security: str = "tls"
    tls_verify: bool = True
    folder: str = "INBOX"
    done_folder: str = "Processed"
    relay_name: str = ""  # "" = for every relay


class BounceMixin:
    """Bounce mailboxes (R25): one global, or one per relay."""

    store: MailingStore
    vault: Vault
    clock: Clock

    async def add_bounce_box(self, settings: BounceBoxSettings) -> None:
        security = parse_security(settings.security)
        if not settings.host or not 0 < settings.port < 65536:
            raise MailingError("a bounce mailbox needs a host and a port")
        names = {b.name for b in await self.store.list_bounce_boxes()}
        if settings.name in names:
            raise MailingError(f"bounce mailbox {settings.name} exists already")
        if settings.relay_name and await self.store.get_relay(settings.relay_name) is None:
            raise MailingError(f"no relay named {settings.relay_name}")
        await self.store.add_bounce_box(
            settings.name, relay_name=settings.relay_name, host=settings.host,
            port=settings.port, security=security, tls_verify=settings.tls_verify,
            login=settings.login, password_enc=self.vault.encrypt(settings.password),
            folder=settings.folder, done_folder=settings.done_folder,
        )  # fmt: skip

    async def list_bounce_boxes(self) -> list[BounceBox]:
        return await self.store.list_bounce_boxes()

    async def remove_bounce_box(self, name: str) -> None:
        if not await self.store.remove_bounce_box(name):
            raise MailingError(f"no bounce mailbox named {name}")

    async def check_bounces(self, name: str | None = None) -> dict[str, BoxResult | str]:
        """Reads each (or the named) bounce mailbox once; a result or an error per box."""
        boxes = [b for b in await self.store.list_bounce_boxes() if name in (None, b.name)]
        if name is not None and not boxes:
            raise MailingError(f"no bounce mailbox named {name}")
        results: dict[str, BoxResult | str] = {}
        for box in boxes:
            now = self.clock.now()
            try:
                password = self.vault.decrypt(box.password_enc)
                result: BoxResult | str = await check_box(self.store, box, password, now)
            except (MailboxError, OSError) as exc:
                result = str(exc)
            summary = result.summary() if isinstance(result, BoxResult) else f"error: {result}"
            await self.store.bounce_box_checked(box.name, now, summary)
            results[box.name] = result
        return results


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Mailing(BounceMixin):
    def __init__(
        self,
        store: MailingStore,
        config: Config,
        vault: Vault,
        clock: Clock | None = None,
        ctx: ServerContext | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.vault = vault
        self.clock: Clock = clock or SystemClock()
        self.ctx = ctx
        # One run per campaign per process: the context's set, else this facade's.
        self.sending: set[int] = ctx.campaigns_sending if ctx is not None else set()

    @classmethod
    async def open(
        cls,
        store: Store,
        config: Config,
        clock: Clock | None = None,
        ctx: ServerContext | None = None,
    ) -> Mailing:
        mailing = store.mailing
        return cls(mailing, config, Vault.for_data_dir(config.data_path), clock, ctx)

    @classmethod
    def of_process(cls, ctx: ServerContext) -> Mailing:
        """The facade over the context's mailing tables (made sure of at start)."""
        return cls(ctx.mailing, ctx.config, Vault.for_data_dir(ctx.config.data_path), ctx=ctx)

    # -- relays --------------------------------------------------------------
    async def add_relay(self, settings: RelaySettings) -> Relay:
        checked = settings.checked(self.config.mailing.forbid_port_25)
        if await self.store.get_relay(checked.name) is not None:
            raise MailingError(f"relay {checked.name} exists already")
        values = {f: getattr(checked, f) for f in checked.__dataclass_fields__}
        for key in ("name", "password"):
            values.pop(key)
        values["password_enc"] = self.vault.encrypt(checked.password)
        return await self.store.add_relay(checked.name, self.clock.now(), **values)

    async def update_relay(self, name: str, **changes: object) -> Relay:
        relay = await self._relay(name)
        current = RelaySettings(
            **{
                f: getattr(relay, f)
                for f in RelaySettings.__dataclass_fields__
                if f not in {"password"} and hasattr(relay, f)
            }
        )
        try:
            checked = replace(current, **changes).checked(  # type: ignore[arg-type]
                self.config.mailing.forbid_port_25
            )
        except TypeError as exc:
            raise RelayConfigError(str(exc)) from None
        values = {f: getattr(checked, f) for f in checked.__dataclass_fields__}
        for key in ("name", "password"):
            values.pop(key)
        if "password" in changes:
            values["password_enc"] = self.vault.encrypt(checked.password)
        await self.store.update_relay(name, **values)
        return await self._relay(name)

    async def _relay(self, name: str) -> Relay:
        relay = await self.store.get_relay(name)
        if relay is None:
            raise MailingError(f"no relay named {name}")
        return relay

    async def list_relays(self) -> list[Relay]:
        return await self.store.list_relays()

    async def remove_relay(self, name: str) -> None:
        if not await self.store.remove_relay(name):
            raise MailingError(f"no relay named {name}")

    async def connect(self, relay: Relay) -> RelayConnection:
        """A connection through `relay`, logged in (the scheduler's connector)."""
        if relay.kind == "internal":
            if self.ctx is None:
                raise RelayUnavailable("the internal relay needs a running postfach")
            return InternalConnection(self.ctx)
        password = self.vault.decrypt(relay.password_enc)
        return await connect_external(relay, password, self.config.server.hostname)

    async def test_relay(self, name: str) -> tuple[bool, str]:
        """Connects and logs in; (worked, what happened in plain words)."""
        relay = await self._relay(name)
        if relay.kind == "internal":
            return True, f"{name} is this postfach: messages go to its own queue"
        try:
            connection = await self.connect(relay)
        except RelayUnavailable as exc:
            return False, f"{name}: {exc}"
        await connection.close()
        security = {
            "none": "without encryption",
            "tls": "over SSL/TLS",
            "starttls": "with STARTTLS",
        }
        login = f", logged in as {relay.login}" if relay.login else " (no login configured)"
        return True, (
            f"{name}: connected to {relay.host}:{relay.port} "
            f"{security[relay.security]}{login}: the relay works"
        )

    async def status(self) -> list[RelayStatus]:
        now = self.clock.now()
        return [RelayStatus(r, await self.store.quota(r, now)) for r in await self.list_relays()]

    # -- contacts and campaigns ----------------------------------------------
    async def import_csv(self, list_name: str, text: str) -> ImportReport:
        parsed: CsvContacts = parse_csv(text)
        list_id = await self.store.ensure_list(list_name, self.clock.now())
        added, merged = await self.store.import_contacts(list_id, parsed.rows)
        return ImportReport(list_name, added, merged, parsed.errors, parsed.columns)

    async def create_campaign(
        self,
        name: str,
        list_name: str,
        subject: str,
        *,
        text: str = "",
        html: str = "",
        from_name: str = "",
        from_address: str = "",
        attachments: Sequence[Path] = (),
    ) -> Campaign:
        from postfach.mailing.addresses import normalize_address

        list_id = await self.store.get_list(list_name)
        if list_id is None:
            raise MailingError(f"no list named {list_name} (import one with mailing list import)")
        if await self.store.get_campaign(name) is not None:
            raise MailingError(f"campaign {name} exists already")
        if not text and not html:
            raise MailingError("a campaign needs a text body, an HTML body, or both")
        check_templates(subject, text, html)
        if from_address:
            from_address = normalize_address(from_address)
        files = [(p.name, _content_type(p), p.read_bytes()) for p in attachments]
        campaign = await self.store.create_campaign(
            name, list_id, self.clock.now(), subject=subject, text_body=text, html_body=html,
            from_name=from_name, from_address=from_address,
        )  # fmt: skip
        for filename, content_type, data in files:
            await self.store.add_attachment(campaign.id, filename, content_type, data)
        return campaign

    async def campaign(self, name: str) -> Campaign:
        found = await self.store.get_campaign(name)
        if found is None:
            raise MailingError(f"no campaign named {name}")
        return found

    async def show_campaign(self, name: str, limit: int | None = 50) -> CampaignView:
        campaign = await self.campaign(name)
        names = {list_id: n for n, list_id in await self._list_ids()}
        return CampaignView(
            campaign,
            names.get(campaign.list_id, "?"),
            await self.store.counts(campaign.id),
            await self.store.recipients(campaign.id, limit),
        )

    async def _list_ids(self) -> list[tuple[str, int]]:
        out = []
        for list_name, _count in await self.store.list_lists():
            list_id = await self.store.get_list(list_name)
            if list_id is not None:
                out.append((list_name, list_id))
        return out

    async def queue(self, name: str) -> int:
        """Queues the campaign's eligible contacts; returns how many were added."""
        return await self.store.queue_campaign(await self.campaign(name), self.clock.now())

    def scheduler(self, progress: Progress | None = None, **overrides: Any) -> Scheduler:
        base = self.unsubscribe_base()
        settings = SchedulerSettings(owner=default_owner(), unsubscribe_base=base)
        settings = replace(settings, **overrides)
        return Scheduler(self.store, self.connect, settings, self.clock, progress, self.sending)

    def unsubscribe_base(self) -> str:
        configured = self.config.mailing.unsubscribe_url
        return configured or f"https://{self.config.public_name}"

    async def send(self, name: str, progress: Progress | None = None) -> RunReport:
        """Queues what is new and sends until done or no relay can (R24)."""
        campaign = await self.campaign(name)
        await self.store.queue_campaign(campaign, self.clock.now())
        campaign = await self.campaign(name)
        await self.store.forget_sends(self.clock.now() - 2 * 86400.0)
        return await self.scheduler(progress).run(campaign)


def _content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"
