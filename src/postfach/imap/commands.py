"""Typed IMAP commands: what the parser produces and the session dispatches on.

One frozen dataclass per command (RFC 3501 §6, RFC 9051 §6 and the extensions
listed in `session.CAPABILITIES`); every command carries its tag. Search keys
and fetch items are values too, so handlers never look at raw syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from postfach.imap.grammar import SeqSet

# -- search keys (RFC 9051 §6.4.4) -------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyAll:
    pass


@dataclass(frozen=True, slots=True)
class KeyFlag:
    """A flag test; `present` False for UN... keys. NEW/OLD/RECENT map to \\Recent."""

    flag: str
    present: bool = True


@dataclass(frozen=True, slots=True)
class KeyText:
    """BCC/BODY/CC/FROM/SUBJECT/TEXT/TO substring search."""

    where: str  # lower case: "bcc", "body", "cc", "from", "subject", "text", "to"
    value: str


@dataclass(frozen=True, slots=True)
class KeyHeader:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class KeyDate:
    """BEFORE/ON/SINCE (internal date) and SENTBEFORE/SENTON/SENTSINCE (Date: header)."""

    op: str  # "before", "on", "since"
    date: tuple[int, int, int]
    sent: bool = False


@dataclass(frozen=True, slots=True)
class KeySize:
    larger: bool
    size: int


@dataclass(frozen=True, slots=True)
class KeySeq:
    seqset: SeqSet
    uid: bool = False


@dataclass(frozen=True, slots=True)
class KeyModSeq:
    modseq: int


@dataclass(frozen=True, slots=True)
class KeySaveDate:
    """RFC 8514 SAVEDBEFORE/SAVEDON/SAVEDSINCE; `op` "supported" for SAVEDATESUPPORTED."""

    op: str  # "before", "on", "since", "supported"
    date: tuple[int, int, int] = (1970, 1, 1)


@dataclass(frozen=True, slots=True)
class KeyObjectId:
    """RFC 8474 §6 EMAILID / THREADID search keys."""

    kind: str  # "EMAILID" or "THREADID"
    value: str


@dataclass(frozen=True, slots=True)
class KeyNot:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class KeyOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class KeyAnd:
    keys: tuple[SearchKey, ...]


SearchKey = (
    KeyAll
    | KeyFlag
    | KeyText
    | KeyHeader
    | KeyDate
    | KeySize
    | KeySeq
    | KeyModSeq
    | KeySaveDate
    | KeyObjectId
    | KeyNot
    | KeyOr
    | KeyAnd
)


# -- fetch items (RFC 9051 §6.4.5) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    """A BODY[...] / BINARY[...] section: part path, then an optional text part."""

    parts: tuple[int, ...] = ()
    text: str = ""  # "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"
    fields: tuple[str, ...] = ()

    def spec(self) -> str:
        out = ".".join(str(p) for p in self.parts)
        if self.text:
            out = f"{out}.{self.text}" if out else self.text
        if self.fields:
            out += " (" + " ".join(self.fields) + ")"
        return out


@dataclass(frozen=True, slots=True)
class FetchAtt:
    """One fetch attribute. `name` is upper case: FLAGS, UID, BODY, BINARY, ...

    BODY with `section` None is the non-extensible BODYSTRUCTURE; RFC822,
    RFC822.HEADER and RFC822.TEXT keep their names.
    """

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    peek: bool = False


# -- commands --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability:
    tag: str


@dataclass(frozen=True, slots=True)
class Noop:
    tag: str


@dataclass(frozen=True, slots=True)
class Logout:
    tag: str


@dataclass(frozen=True, slots=True)
class StartTls:
    tag: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    tag: str
    mechanism: str  # upper case
    initial: bytes | None = field(default=None, repr=False)  # SASL-IR, base64; b"" for "="


@dataclass(frozen=True, slots=True)
class Login:
    tag: str
    user: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class QresyncParams:
    uidvalidity: int
    modseq: int
    known_uids: SeqSet | None = None
    seq_match: tuple[SeqSet, SeqSet] | None = None


@dataclass(frozen=True, slots=True)
class Select:
    tag: str
    mailbox: str
    readonly: bool = False  # EXAMINE
    condstore: bool = False
    qresync: QresyncParams | None = None


@dataclass(frozen=True, slots=True)
class Create:
    tag: str
    mailbox: str
    special_use: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Delete:
    tag: str
    mailbox: str


@dataclass(frozen=True, slots=True)
class Rename:
    tag: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    tag: str
    mailbox: str
    subscribe: bool = True  # False: UNSUBSCRIBE


@dataclass(frozen=True, slots=True)
class ListMailboxes:
    """LIST and LSUB, with RFC 5258 selection and return options."""

    tag: str
    reference: str
    patterns: tuple[str, ...]
    select_opts: frozenset[str] = frozenset()
    return_opts: frozenset[str] = frozenset()
    status_items: tuple[str, ...] = ()
    lsub: bool = False
    extended: bool = False


@dataclass(frozen=True, slots=True)
class Namespace:
    tag: str


@dataclass(frozen=True, slots=True)
class Status:
    tag: str
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CatPart:
    """RFC 4469 cat-part: `TEXT literal` (text) or `URL astring` (url)."""

    text: bytes | None = field(default=None, repr=False)
    url: str | None = None


@dataclass(frozen=True, slots=True)
class AppendMessage:
    flags: frozenset[str]
    date: float | None
    data: bytes = field(repr=False)
    binary: bool = False  # sent in an RFC 3516 literal8 `~{n}`
    catenate: tuple[CatPart, ...] | None = None  # RFC 4469: the parts `data` is made of


@dataclass(frozen=True, slots=True)
class Append:
    tag: str
    mailbox: str
    messages: tuple[AppendMessage, ...]


@dataclass(frozen=True, slots=True)
class Check:
    tag: str


@dataclass(frozen=True, slots=True)
class Close:
    tag: str


@dataclass(frozen=True, slots=True)
class Unselect:
    tag: str


@dataclass(frozen=True, slots=True)
class Expunge:
    tag: str
    uids: SeqSet | None = None  # UID EXPUNGE (RFC 4315)


@dataclass(frozen=True, slots=True)
class Search:
    tag: str
    uid: bool
    key: SearchKey
    charset: str | None = None
    return_opts: tuple[str, ...] | None = None  # None: plain SEARCH; (): ESEARCH ALL
    partial: tuple[int, int] | None = None  # RFC 9394: (1, 100), or (-1, -100) from the end


@dataclass(frozen=True, slots=True)
class Fetch:
    tag: str
    uid: bool
    seqset: SeqSet
    items: tuple[FetchAtt, ...]
    changedsince: int | None = None
    vanished: bool = False


@dataclass(frozen=True, slots=True)
class Store:
    tag: str
    uid: bool
    seqset: SeqSet
    mode: str  # "add", "remove", "replace"
    silent: bool
    flags: frozenset[str]
    unchangedsince: int | None = None


@dataclass(frozen=True, slots=True)
class Copy:
    tag: str
    uid: bool
    seqset: SeqSet
    mailbox: str
    move: bool = False


@dataclass(frozen=True, slots=True)
class Idle:
    tag: str


@dataclass(frozen=True, slots=True)
class Id:
    tag: str
    params: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True, slots=True)
class Enable:
    tag: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GetQuota:
    tag: str
    root: str


@dataclass(frozen=True, slots=True)
class GetQuotaRoot:
    tag: str
    mailbox: str


@dataclass(frozen=True, slots=True)
class SetQuota:
    tag: str
    root: str
    limits: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Sort:
    tag: str
    uid: bool
    criteria: tuple[tuple[str, bool], ...]  # (key, reverse)
    charset: str
    key: SearchKey
    return_opts: tuple[str, ...] | None = None  # RFC 5267 ESORT; None: plain SORT
    partial: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class NotifyGroup:
    """RFC 5465 event-group: a filter, its mailbox names, events (None: NONE) and
    MessageNew's fetch-atts (selected filters only)."""

    filter: str  # lower case: selected, selected-delayed, inboxes, personal, ...
    mailboxes: tuple[str, ...]
    events: frozenset[str] | None
    fetch: tuple[FetchAtt, ...] = ()


@dataclass(frozen=True, slots=True)
class Notify:
    """RFC 5465 NOTIFY: `groups` None for NOTIFY NONE."""

    tag: str
    groups: tuple[NotifyGroup, ...] | None
    status: bool = False


@dataclass(frozen=True, slots=True)
class CancelUpdate:
    """RFC 5267 §4.2: stop updating the contexts of these tags."""

    tag: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GenUrlAuth:
    """RFC 4467 §6.2: (url rump, mechanism) pairs to sign."""

    tag: str
    urls: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ResetKey:
    """RFC 4467 §6.1: every mailbox's key (mailbox None), or one mailbox's."""

    tag: str
    mailbox: str | None = None
    mechanisms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UrlFetch:
    """RFC 4467 §6.3."""

    tag: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Thread:
    tag: str
    uid: bool
    algorithm: str
    charset: str
    key: SearchKey


Command = (
    Capability
    | Noop
    | Logout
    | StartTls
    | Authenticate
    | Login
    | Select
    | Create
    | Delete
    | Rename
    | Subscribe
    | ListMailboxes
    | Namespace
    | Status
    | Append
    | Check
    | Close
    | Unselect
    | Expunge
    | Search
    | Fetch
    | Store
    | Copy
    | Idle
    | Id
    | Enable
    | GetQuota
    | GetQuotaRoot
    | SetQuota
    | Sort
    | Thread
    | CancelUpdate
    | GenUrlAuth
    | ResetKey
    | UrlFetch
    | Notify
)
