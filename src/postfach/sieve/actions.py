"""What a script asks for (RFC 5228 §4 and the extensions), and the rules on
which actions go together. The interpreter collects these; delivery carries
them out (postfach/sieve_delivery.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Action",
    "Discard",
    "FileInto",
    "Keep",
    "Outcome",
    "Redirect",
    "Reject",
    "Vacation",
    "conflict",
]


@dataclass(frozen=True, slots=True)
class Keep:
    """Into the default folder (the Inbox, or Spam for mail the spam check filed
    there); `implicit` when no action cancelled the implicit keep."""

    flags: frozenset[str] = frozenset()
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class FileInto:
    mailbox: str
    flags: frozenset[str] = frozenset()
    create: bool = False


@dataclass(frozen=True, slots=True)
class Redirect:
    address: str


@dataclass(frozen=True, slots=True)
class Reject:
    """RFC 5429: refuse the message with `reason` (ereject: at SMTP time only)."""

    reason: str
    extended: bool = False


@dataclass(frozen=True, slots=True)
class Discard:
    pass


@dataclass(frozen=True, slots=True)
class Vacation:
    """RFC 5230's parameters, variables expanded. `days` as written (clamped when
    used); `subject` and `sender` empty when not given."""

    reason: str
    days: int = 7
    subject: str = ""
    sender: str = ""
    addresses: tuple[str, ...] = ()
    mime: bool = False
    handle: str = ""


Action = Keep | FileInto | Redirect | Reject | Discard | Vacation


@dataclass(slots=True)
class Outcome:
    """The actions of one run, in order, the implicit keep (if left) last."""

    actions: list[Action] = field(default_factory=list)

    def of(self, kind: type[Action]) -> list[Action]:
        return [action for action in self.actions if isinstance(action, kind)]


def conflict(actions: list[Action], new: Action) -> str | None:
    """Why `new` cannot join `actions` (RFC 5429 §2.3, RFC 5230 §4.7), or None."""
    rejects = any(isinstance(a, Reject) for a in actions)
    if isinstance(new, Reject):
        if rejects:
            return "only one reject or ereject may run"
        if any(isinstance(a, Keep | FileInto | Vacation) for a in actions):
            return "reject cannot go with keep, fileinto or vacation"
    elif rejects and isinstance(new, Keep | FileInto | Vacation):
        return "reject cannot go with keep, fileinto or vacation"
    if isinstance(new, Vacation) and any(isinstance(a, Vacation) for a in actions):
        return "only one vacation may run"
    return None
