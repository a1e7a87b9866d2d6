"""Sans-IO IMAP command parser: bytes in, typed commands out (RFC 9051 §9 ABNF).

Framing and parsing are two pure steps. The connection asks `literal_suffix(line)`
whether a line ends in a literal (`{n}`, `{n+}` or `~{n}`); if so it reads (after
`+ ` for a synchronizing literal) the n octets and the next line, and repeats.
The complete command, literals inline, goes to `parse_command`: a `Command`, or
`BadSyntax` with the tag (when one could be read) and a reason for `BAD`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from postfach.imap import commands as c
from postfach.imap.extparse import EXTENSION_PARSERS
from postfach.imap.fetchparse import fetch_args
from postfach.imap.grammar import SeqSet, parse_datetime
from postfach.imap.lexer import ASTRING_STOP, ATOM_STOP, BadSyntax, Cursor
from postfach.imap.returnparse import catenate_parts, optional_return
from postfach.imap.searchparse import search_key_list, search_program, sort_criteria

__all__ = ["BadSyntax", "command_name", "literal_suffix", "parse_command"]

_LITERAL_AT_END = re.compile(rb"(~?)\{(\d{1,20})(\+?)\}\r?\n\Z")


def literal_suffix(line: bytes) -> tuple[int, bool] | None:
    """(size, synchronizing) when `line` announces a literal, else None."""
    match = _LITERAL_AT_END.search(line)
    if match is None:
        return None
    return int(match.group(2)), not match.group(3)


_TAG = re.compile(rb"[^\x00-\x20\x7f(){%*\"\\+\x80-\xff]+")


def command_name(line: bytes) -> tuple[str | None, str]:
    """(tag, upper-case command name) read leniently from a first line, for limits."""
    parts = line.split(b" ", 3)
    tag = (
        parts[0].decode("ascii", "replace").strip() if parts and _TAG.fullmatch(parts[0]) else None
    )
    name = parts[1].upper() if len(parts) > 1 else b""
    if name == b"UID" and len(parts) > 2:
        name = parts[2].upper()
    return tag, name.decode("ascii", "replace").strip()


# -- entry point ----------------------------------------------------------------


def parse_command(data: bytes, utf8: bool = False) -> c.Command:
    """Parses one complete command (literals inline, CRLF at the end)."""
    cur = Cursor(data, utf8)
    raw_tag = cur.run(ASTRING_STOP | {ord("+")})
    if not raw_tag or not _TAG.fullmatch(raw_tag):
        raise BadSyntax(None, "missing or invalid tag")
    cur.tag = raw_tag.decode("ascii")
    if not cur.take(b" "):
        raise cur.fail("missing command")
    name = cur.atom("command name").upper()
    uid = False
    if name == "UID":
        cur.sp()
        uid = True
        name = cur.atom("command name").upper()
        if name not in _UID_COMMANDS:
            raise cur.fail(f"UID {name} is not a command")
    parser = _PARSERS.get(name)
    if parser is None:
        raise cur.fail(f"unknown command {name[:40]}")
    command = parser(cur, uid)
    cur.end()
    return command


def _simple(
    cls: type[
        c.Capability
        | c.Noop
        | c.Logout
        | c.StartTls
        | c.Check
        | c.Close
        | c.Unselect
        | c.Idle
        | c.Namespace
    ],
) -> Callable[[Cursor, bool], c.Command]:
    def parse(cur: Cursor, uid: bool) -> c.Command:
        assert cur.tag is not None
        return cls(cur.tag)

    return parse


def _tag(cur: Cursor) -> str:
    assert cur.tag is not None
    return cur.tag


def p_login(cur: Cursor, uid: bool) -> c.Command:
    """RFC 9051 "login" = "LOGIN" SP userid SP password."""
    cur.sp()
    user = cur.astring()
    cur.sp()
    password = cur.astring()
    return c.Login(_tag(cur), user, password)


def p_authenticate(cur: Cursor, uid: bool) -> c.Command:
    """RFC 9051 "authenticate", with the RFC 4959 SASL-IR initial response."""
    cur.sp()
    mech = cur.atom("mechanism").upper()
    initial: bytes | None = None
    if cur.take(b" "):
        if cur.take(b"="):
            initial = b""
        else:
            initial = cur.run(ATOM_STOP)
            if not initial:
                raise cur.fail("expected an initial response")
    return c.Authenticate(_tag(cur), mech, initial)


def p_select(cur: Cursor, uid: bool, readonly: bool = False) -> c.Command:
    """RFC 9051 "select"/"examine" with RFC 7162 CONDSTORE and QRESYNC parameters."""
    cur.sp()
    mailbox = cur.mailbox()
    condstore = False
    qresync: c.QresyncParams | None = None
    if cur.take(b" "):
        cur.expect(b"(")
        while True:
            param = cur.atom("select parameter").upper()
            if param == "CONDSTORE":
                condstore = True
            elif param == "QRESYNC":
                cur.sp()
                qresync = _qresync_params(cur)
            else:
                raise cur.fail(f"unknown select parameter {param[:40]}")
            if cur.take(b")"):
                break
            cur.sp()
    return c.Select(_tag(cur), mailbox, readonly, condstore, qresync)


def _qresync_params(cur: Cursor) -> c.QresyncParams:
    cur.expect(b"(")
    uidvalidity = cur.number(nonzero=True)
    cur.sp()
    modseq = cur.number(nonzero=True, limit=(1 << 63) - 1)
    known: SeqSet | None = None
    match: tuple[SeqSet, SeqSet] | None = None
    if cur.take(b" "):
        if cur.peek() != ord("("):
            known = cur.seqset()
            cur.take(b" ")
        if cur.take(b"("):
            seqs = cur.seqset()
            cur.sp()
            uids = cur.seqset()
            cur.expect(b")")
            match = (seqs, uids)
    cur.expect(b")")
    return c.QresyncParams(uidvalidity, modseq, known, match)


def p_create(cur: Cursor, uid: bool) -> c.Command:
    """RFC 9051 "create"; RFC 6154 CREATE-SPECIAL-USE `(USE (\\Sent))`."""
    cur.sp()
    mailbox = cur.mailbox()
    uses: list[str] = []
    if cur.take(b" "):
        cur.expect(b"(")
        cur.expect(b"USE")
        cur.sp()
        uses = cur.paren_list(cur.flag)
        cur.expect(b")")
    return c.Create(_tag(cur), mailbox, tuple(uses))


def p_mailbox_only(kind: str) -> Callable[[Cursor, bool], c.Command]:
    def parse(cur: Cursor, uid: bool) -> c.Command:
        cur.sp()
        mailbox = cur.mailbox()
        tag = _tag(cur)
        if kind == "delete":
            return c.Delete(tag, mailbox)
        if kind == "getquotaroot":
            return c.GetQuotaRoot(tag, mailbox)
        return c.Subscribe(tag, mailbox, kind == "subscribe")

    return parse


def p_rename(cur: Cursor, uid: bool) -> c.Command:
    cur.sp()
    old = cur.mailbox()
    cur.sp()
    new = cur.mailbox()
    return c.Rename(_tag(cur), old, new)


LIST_SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
# RFC 5258 §3: an option the server does not know is BAD, for return options too.
LIST_RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "STATUS", "SPECIAL-USE"})


def p_list(cur: Cursor, uid: bool) -> c.Command:
    """RFC 9051 "list" with RFC 5258 LIST-EXTENDED and RFC 5819 LIST-STATUS."""
    cur.sp()
    select_opts: list[str] = []
    extended = False
    if cur.peek() == ord("("):
        extended = True
        select_opts = [s.upper() for s in cur.paren_list(lambda: cur.atom("selection option"))]
        cur.sp()
    reference = cur.mailbox_name(cur.astring_bytes())
    cur.sp()
    if cur.peek() == ord("("):
        extended = True
        patterns = cur.paren_list(cur.list_mailbox)
        if not patterns:
            raise cur.fail("empty pattern list")
    else:
        patterns = [cur.list_mailbox()]
    return_opts: set[str] = set()
    status_items: tuple[str, ...] = ()
    if cur.take(b" "):
        extended = True
        cur.expect(b"RETURN")
        cur.sp()
        cur.expect(b"(")
        while not cur.take(b")"):
            opt = cur.atom("return option").upper()
            if opt == "STATUS":
                cur.sp()
                status_items = tuple(s.upper() for s in cur.paren_list(cur.atom))
            return_opts.add(opt)
            if cur.peek() != ord(")"):
                cur.sp()
    for opt in select_opts:
        if opt not in LIST_SELECT_OPTIONS:
            raise cur.fail(f"unknown selection option {opt[:40]}")
    for opt in return_opts:
        if opt not in LIST_RETURN_OPTIONS:
            raise cur.fail(f"unknown return option {opt[:40]}")
    if "RECURSIVEMATCH" in select_opts and not set(select_opts) - {"RECURSIVEMATCH", "REMOTE"}:
        raise cur.fail("RECURSIVEMATCH needs another selection option")
    return c.ListMailboxes(
        _tag(cur),
        reference,
        tuple(patterns),
        frozenset(select_opts),
        frozenset(return_opts),
        status_items,
        False,
        extended,
    )


def p_lsub(cur: Cursor, uid: bool) -> c.Command:
    cur.sp()
    reference = cur.mailbox_name(cur.astring_bytes())
    cur.sp()
    pattern = cur.list_mailbox()
    return c.ListMailboxes(_tag(cur), reference, (pattern,), lsub=True)


STATUS_ITEMS = frozenset(
    {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ"}
    | {"MAILBOXID"}
)


def p_status(cur: Cursor, uid: bool) -> c.Command:
    cur.sp()
    mailbox = cur.mailbox()
    cur.sp()
    items = [s.upper() for s in cur.paren_list(cur.atom)]
    for item in items:
        if item not in STATUS_ITEMS:
            raise cur.fail(f"unknown status item {item[:40]}")
    if not items:
        raise cur.fail("empty status item list")
    return c.Status(_tag(cur), mailbox, tuple(items))


def p_append(cur: Cursor, uid: bool) -> c.Command:
    """RFC 9051 "append" with RFC 3502 MULTIAPPEND and RFC 4469 CATENATE."""
    cur.sp()
    mailbox = cur.mailbox()
    messages: list[c.AppendMessage] = []
    while cur.take(b" "):
        flags: frozenset[str] = frozenset()
        date: float | None = None
        if cur.peek() == ord("("):
            flags = cur.flag_list()
            cur.check_system_flags(flags)  # \Recent too: APPEND takes "flag" (RFC 3501 §9)
            cur.sp()
        if cur.peek() == ord('"'):
            try:
                date = parse_datetime(cur.quoted().decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                raise cur.fail("invalid date-time") from None
            cur.sp()
        if cur.take(b"CATENATE "):
            messages.append(c.AppendMessage(flags, date, b"", catenate=catenate_parts(cur)))
            continue
        if cur.peek() not in (ord("{"), ord("~")):
            raise cur.fail("expected a message literal")
        binary = cur.peek() == ord("~")
        messages.append(c.AppendMessage(flags, date, cur.literal(), binary))
    if not messages:
        raise cur.fail("missing message")
    return c.Append(_tag(cur), mailbox, tuple(messages))


def p_expunge(cur: Cursor, uid: bool) -> c.Command:
    if uid:
        cur.sp()
        return c.Expunge(_tag(cur), cur.seqset())
    return c.Expunge(_tag(cur))


def p_copy(move: bool) -> Callable[[Cursor, bool], c.Command]:
    def parse(cur: Cursor, uid: bool) -> c.Command:
        cur.sp()
        seqset = cur.seqset()
        cur.sp()
        return c.Copy(_tag(cur), uid, seqset, cur.mailbox(), move)

    return parse


def p_store(cur: Cursor, uid: bool) -> c.Command:
    """RFC 9051 "store", with RFC 7162 UNCHANGEDSINCE."""
    cur.sp()
    seqset = cur.seqset()
    cur.sp()
    unchanged: int | None = None
    if cur.take(b"("):
        cur.expect(b"UNCHANGEDSINCE")
        cur.sp()
        unchanged = cur.number(limit=(1 << 63) - 1)
        cur.expect(b")")
        cur.sp()
    mode = "replace"
    if cur.take(b"+"):
        mode = "add"
    elif cur.take(b"-"):
        mode = "remove"
    cur.expect(b"FLAGS", "FLAGS")
    silent = cur.take(b".SILENT")
    cur.sp()
    if cur.peek() == ord("("):
        flags = cur.flag_list()
    else:
        items = [cur.flag()]
        while cur.take(b" "):
            items.append(cur.flag())
        flags = frozenset(items)
    if "\\Recent" in flags or "\\*" in flags:
        raise cur.fail("\\Recent and \\* cannot be stored")
    cur.check_system_flags(flags)
    return c.Store(_tag(cur), uid, seqset, mode, silent, flags, unchanged)


def p_id(cur: Cursor, uid: bool) -> c.Command:
    """RFC 2971 "id" = "ID" SP ( "(" field-value pairs ")" / NIL )."""
    cur.sp()
    if cur.take(b"NIL"):
        return c.Id(_tag(cur), None)
    cur.expect(b"(")
    pairs: list[tuple[str, str | None]] = []
    while not cur.take(b")"):
        if pairs:
            cur.sp()
        key = cur.string().decode("utf-8", "replace")
        cur.sp()
        pairs.append((key, cur.nstring()))
        if len(pairs) > 30:
            raise cur.fail("too many ID fields")
    return c.Id(_tag(cur), tuple(pairs))


def p_enable(cur: Cursor, uid: bool) -> c.Command:
    caps: list[str] = []
    while cur.take(b" "):
        caps.append(cur.atom("capability").upper())
    if not caps:
        raise cur.fail("missing capability")
    return c.Enable(_tag(cur), tuple(caps))


def p_getquota(cur: Cursor, uid: bool) -> c.Command:
    cur.sp()
    return c.GetQuota(_tag(cur), cur.astring())


def p_setquota(cur: Cursor, uid: bool) -> c.Command:
    cur.sp()
    root = cur.astring()
    cur.sp()
    cur.expect(b"(")
    limits: list[tuple[str, int]] = []
    while not cur.take(b")"):
        if limits:
            cur.sp()
        name = cur.atom("resource").upper()
        cur.sp()
        limits.append((name, cur.number(limit=(1 << 63) - 1)))
    return c.SetQuota(_tag(cur), root, tuple(limits))


def p_search(cur: Cursor, uid: bool) -> c.Command:
    """RFC 9051 "search" with RFC 4731 ESEARCH RETURN options."""
    cur.sp()
    return_opts, partial = optional_return(cur)
    charset, key = search_program(cur)
    return c.Search(_tag(cur), uid, key, charset, return_opts, partial)


def p_sort(cur: Cursor, uid: bool) -> c.Command:
    """RFC 5256 "sort" = "SORT" SP sort-criteria SP search-criteria, with the RFC 5267
    ESORT result options before the criteria."""
    cur.sp()
    return_opts, partial = optional_return(cur)
    criteria = sort_criteria(cur)
    cur.sp()
    charset = cur.astring().upper()
    cur.sp()
    key = search_key_list(cur)
    return c.Sort(_tag(cur), uid, criteria, charset, key, return_opts, partial)


def p_thread(cur: Cursor, uid: bool) -> c.Command:
    cur.sp()
    algorithm = cur.atom("thread algorithm").upper()
    if algorithm not in ("ORDEREDSUBJECT", "REFERENCES"):
        raise cur.fail(f"unknown thread algorithm {algorithm[:40]}")
    cur.sp()
    charset = cur.astring().upper()
    cur.sp()
    key = search_key_list(cur)
    return c.Thread(_tag(cur), uid, algorithm, charset, key)


def p_fetch(cur: Cursor, uid: bool) -> c.Command:
    cur.sp()
    seqset = cur.seqset()
    cur.sp()
    items, changedsince, vanished = fetch_args(cur, uid)
    return c.Fetch(_tag(cur), uid, seqset, items, changedsince, vanished)


_PARSERS: dict[str, Callable[[Cursor, bool], c.Command]] = {
    "CAPABILITY": _simple(c.Capability),
    "NOOP": _simple(c.Noop),
    "LOGOUT": _simple(c.Logout),
    "STARTTLS": _simple(c.StartTls),
    "CHECK": _simple(c.Check),
    "CLOSE": _simple(c.Close),
    "UNSELECT": _simple(c.Unselect),
    "IDLE": _simple(c.Idle),
    "NAMESPACE": _simple(c.Namespace),
    "LOGIN": p_login,
    "AUTHENTICATE": p_authenticate,
    "SELECT": p_select,
    "EXAMINE": lambda cur, uid: p_select(cur, uid, readonly=True),
    "CREATE": p_create,
    "DELETE": p_mailbox_only("delete"),
    "RENAME": p_rename,
    "SUBSCRIBE": p_mailbox_only("subscribe"),
    "UNSUBSCRIBE": p_mailbox_only("unsubscribe"),
    "LIST": p_list,
    "LSUB": p_lsub,
    "STATUS": p_status,
    "APPEND": p_append,
    "EXPUNGE": p_expunge,
    "SEARCH": p_search,
    "FETCH": p_fetch,
    "STORE": p_store,
    "COPY": p_copy(move=False),
    "MOVE": p_copy(move=True),
    "ID": p_id,
    "ENABLE": p_enable,
    "GETQUOTA": p_getquota,
    "GETQUOTAROOT": p_mailbox_only("getquotaroot"),
    "SETQUOTA": p_setquota,
    "SORT": p_sort,
    "THREAD": p_thread,
    **EXTENSION_PARSERS,
}
_UID_COMMANDS = frozenset({"FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE", "SORT", "THREAD"})
