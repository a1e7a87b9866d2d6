"""The Rules page: simple filter rules, the vacation reply, and the raw Sieve script.

The rules and the vacation are one Sieve script, `postfach-rules`, which the
page writes (web/rulescript.py) and activates; delivery runs it (sieve_delivery).
When the active script was written elsewhere (a mail program over ManageSieve,
or by hand in the raw editor) the page says so and offers the raw editor, or
to switch to its own rules, which leaves the other script stored: it never
overwrites a script silently. The raw editor compiles what it is given and, on
a mistake, shows "line L, column C: ..." with the text kept in the form.

Every change is a POST with the session's CSRF token (`action`), as on the
other account pages.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postfach.sieve import SieveError, compile_script
from postfach.sieve.validator import valid_address
from postfach.store.records import AccountId
from postfach.web.common import context, render
from postfach.web.rulescript import (
    FIELDS,
    MAX_RULES,
    RULES_SCRIPT,
    Action,
    Field,
    Rule,
    RuleSet,
    Vacation,
    from_script,
    to_script,
)
from postfach.web.sessions import User, action, page

__all__ = ["routes"]

MAX_TEXT = 200  # characters of a rule's words, a subject, a folder or an address
MAX_REPLY = 10_000  # characters of the vacation text
ACTIONS = (
    (Action.MOVE, "move it to the folder"),
    (Action.READ, "mark it as read"),
    (Action.DELETE, "delete it"),
    (Action.FORWARD, "forward a copy to"),
)


class Refused(Exception):
    """The change cannot be made; the message is shown on the page."""


@dataclass(frozen=True, slots=True)
class Scripts:
    """What the account's scripts mean for the page."""

    rules: RuleSet  # the page's own rules (empty when there are none yet)
    active: str | None  # the active script's name
    edited: bool  # the page's script was changed by hand since the page wrote it

    @property
    def foreign(self) -> bool:
        """A script the page did not write would be replaced: the page keeps off."""
        return self.edited or (self.active is not None and self.active != RULES_SCRIPT)


async def _scripts(request: Request, account_id: AccountId) -> Scripts:
    sieve = context(request).store.sieve
    active = await sieve.active_script(account_id)
    own = active[1] if active is not None and active[0] == RULES_SCRIPT else None
    if own is None:
        own = await sieve.get_script(account_id, RULES_SCRIPT)
    if own is None:
        return Scripts(RuleSet(), active[0] if active else None, False)
    rules = from_script(own)
    # Edited by hand: start from what its data line still says, if anything.
    recovered = rules or from_script(own, strict=False) or RuleSet()
    return Scripts(recovered, active[0] if active else None, rules is None)


async def _rules_page(
    request: Request, user: User, *, error: str = "", flash: str = "", status: int = 200
) -> Response:
    ctx = context(request)
    scripts = await _scripts(request, user.account.id)
    mailboxes = await ctx.store.mailboxes.list_mailboxes(user.account.id)
    rules = scripts.rules
    vacation = rules.vacation or rules.vacation_off
    return render(
        request, "rules.html", status=422 if error and status == 200 else status, user=user,
        csrf=user.csrf, error=error, flash=flash, scripts=scripts, rules=rules.rules,
        vacation=vacation, vacation_on=rules.vacation is not None,
        fields=[(f.value, label) for f, (label, _) in FIELDS.items()],
        field_labels={f.value: label for f, (label, _) in FIELDS.items()},
        actions=[(a.value, label) for a, label in ACTIONS],
        action_labels={a.value: label for a, label in ACTIONS},
        folders=[m.name for m in mailboxes], max_days=ctx.config.sieve.vacation_max_days,
    )  # fmt: skip


async def _save(request: Request, account_id: AccountId, name: str, text: str) -> None:
    """Stores `name` and makes it the active script, within the limits; SieveError
    when it does not compile."""
    ctx = context(request)
    limits = ctx.config.limits
    if len(text.encode("utf-8")) > limits.sieve_max_script_size:
        raise Refused(f"A script may have at most {limits.sieve_max_script_size} octets.")
    compile_script(text)
    scripts = await ctx.store.sieve.list_scripts(account_id)
    if len(scripts) >= limits.sieve_max_scripts and all(s.name != name for s in scripts):
        raise Refused(f"You have {len(scripts)} scripts, the most an account may keep.")
    await ctx.store.sieve.put_script(account_id, name, text)
    await ctx.store.sieve.set_active(account_id, name)


async def _change(request: Request, user: User, rules: RuleSet, flash: str) -> Response:
    """Writes the page's script from `rules`, unless another script is active."""
    if (await _scripts(request, user.account.id)).foreign:
        return await _rules_page(
            request, user, status=409,
            error="Your active filter was written elsewhere; nothing was changed.",
        )  # fmt: skip
    try:
        await _save(request, user.account.id, RULES_SCRIPT, to_script(rules))
    except (Refused, SieveError) as exc:  # SieveError: a rule the generator got wrong
        return await _rules_page(request, user, error=str(exc))
    return await _rules_page(request, user, flash=flash)


def _text(form: FormData, name: str, limit: int = MAX_TEXT, *, lines: bool = False) -> str:
    """A field as a rule can hold it: one line (or, with `lines`, LF-separated lines),
    no other control characters, at most `limit` characters."""
    value = str(form.get(name, "")).replace("\r\n", "\n").replace("\r", "\n").strip()
    allowed = "\n" if lines else ""
    if len(value) > limit or any(
        (ord(c) < 0x20 or ord(c) == 0x7F) and c not in allowed for c in value
    ):
        raise Refused(f"That is too long or has characters a rule cannot hold ({name}).")
    return value


async def _rule_from(request: Request, user: User, form: FormData) -> Rule:
    try:
        field, act = Field(str(form.get("field"))), Action(str(form.get("action")))
    except ValueError:
        raise Refused("Choose what to look at and what to do.") from None
    contains = _text(form, "contains")
    if not contains:
        raise Refused("Give the words to look for.")
    target = ""
    if act is Action.MOVE:
        target = _text(form, "folder")
        boxes = await context(request).store.mailboxes.list_mailboxes(user.account.id)
        if target not in {m.name for m in boxes}:
            raise Refused("Choose one of your folders.")
    elif act is Action.FORWARD:
        target = _text(form, "address")
        if not valid_address(target):
            raise Refused("Give the address to forward to, such as bob@example.net.")
    return Rule(field, contains, act, target)


def _date(form: FormData, name: str) -> datetime.date | None:
    text = str(form.get(name, "")).strip()
    if not text:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise Refused("Dates look like 2026-07-31.") from None


def _vacation_from(form: FormData, max_days: int) -> Vacation:
    subject, text = _text(form, "subject"), _text(form, "text", MAX_REPLY, lines=True)
    if not text:
        raise Refused("Write the text of the reply.")
    start, end = _date(form, "start"), _date(form, "end")
    if start and end and end < start:
        raise Refused("The last day comes before the first.")
    days_text = str(form.get("days", "7")).strip() or "7"
    if not days_text.isdigit() or not 1 <= int(days_text) <= max_days:
        raise Refused(f"Answer each sender once every 1 to {max_days} days.")
    return Vacation(subject or "Away", text, start, end, int(days_text))


# -- the handlers ----------------------------------------------------------------


@page
async def rules_page(request: Request, user: User) -> Response:
    return await _rules_page(request, user)


@action
async def add_rule(request: Request, user: User, form: FormData) -> Response:
    rules = (await _scripts(request, user.account.id)).rules
    try:
        if len(rules.rules) >= MAX_RULES:
            raise Refused(f"You have {MAX_RULES} rules, the most the page keeps.")
        rule = await _rule_from(request, user, form)
    except Refused as exc:
        return await _rules_page(request, user, error=str(exc))
    return await _change(request, user, rules.with_rule(rule), "Rule added.")


@action
async def remove_rule(request: Request, user: User, form: FormData) -> Response:
    rules = (await _scripts(request, user.account.id)).rules
    index = str(form.get("index", ""))
    if not index.isdigit() or int(index) >= len(rules.rules):
        return RedirectResponse("/rules", status_code=303)
    return await _change(request, user, rules.without_rule(int(index)), "Rule removed.")


@action
async def save_vacation(request: Request, user: User, form: FormData) -> Response:
    rules = (await _scripts(request, user.account.id)).rules
    max_days = context(request).config.sieve.vacation_max_days
    try:
        vacation = _vacation_from(form, max_days)
    except Refused as exc:
        return await _rules_page(request, user, error=str(exc))
    if form.get("enabled") == "on":
        changed = replace(rules, vacation=vacation, vacation_off=None)
        return await _change(request, user, changed, "Vacation reply on.")
    changed = replace(rules, vacation=None, vacation_off=vacation)
    return await _change(request, user, changed, "Vacation reply off.")


@action
async def use_page_rules(request: Request, user: User, form: FormData) -> Response:
    """Activates the page's own rules instead of a script written elsewhere (kept)."""
    rules = (await _scripts(request, user.account.id)).rules
    try:
        await _save(request, user.account.id, RULES_SCRIPT, to_script(rules))
    except (Refused, SieveError) as exc:
        return await _rules_page(request, user, error=str(exc))
    return await _rules_page(request, user, flash="The rules of this page are active now.")


async def _script_page(
    request: Request, user: User, *, text: str | None = None, error: str = "", flash: str = ""
) -> Response:
    sieve = context(request).store.sieve
    active = await sieve.active_script(user.account.id)
    name = active[0] if active is not None else RULES_SCRIPT
    if text is None:
        stored = active[1] if active is not None else await sieve.get_script(user.account.id, name)
        text = stored if stored is not None else to_script(RuleSet())
    return render(
        request, "rules_script.html", status=422 if error else 200, user=user, csrf=user.csrf,
        script_name=name, text=text, error=error, flash=flash,
    )  # fmt: skip


@page
async def script_page(request: Request, user: User) -> Response:
    return await _script_page(request, user)


@action
async def save_script(request: Request, user: User, form: FormData) -> Response:
    """Saves the active script (or the page's, when none is) as written."""
    text = str(form.get("script", "")).replace("\r\n", "\n")
    active = await context(request).store.sieve.active_script(user.account.id)
    name = active[0] if active is not None else RULES_SCRIPT
    try:
        await _save(request, user.account.id, name, text)
    except SieveError as exc:
        return await _script_page(request, user, text=text, error=f"Not saved: {exc}")
    except Refused as exc:
        return await _script_page(request, user, text=text, error=str(exc))
    return await _script_page(request, user, flash="Saved; this script is active.")


def routes() -> list[BaseRoute]:
    return [
        Route("/rules", rules_page, methods=["GET"]),
        Route("/rules", add_rule, methods=["POST"]),
        Route("/rules/remove", remove_rule, methods=["POST"]),
        Route("/rules/vacation", save_vacation, methods=["POST"]),
        Route("/rules/use", use_page_rules, methods=["POST"]),
        Route("/rules/script", script_page, methods=["GET"]),
        Route("/rules/script", save_script, methods=["POST"]),
    ]
