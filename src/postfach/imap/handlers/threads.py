"""SORT and THREAD (RFC 5256): ORDEREDSUBJECT and REFERENCES, base subjects, sent dates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from postfach.cooperative import Budget, run_off_loop
from postfach.imap import commands as c
from postfach.imap import responses as r
from postfach.imap.handlers.esort import write_esort
from postfach.imap.handlers.search import Searcher, check_charset
from postfach.message import Envelope, decode_words

if TYPE_CHECKING:
    from postfach.imap.session import Session

__all__ = ["base_subject", "sort", "sorted_indexes", "thread"]

# RFC 5256 §5: subj-blob = "[" *BLOBCHAR "]" *WSP; subj-refwd = ("re" / ("fw" ["d"]))
# *WSP [subj-blob] ":"; subj-leader = (*subj-blob subj-refwd) / WSP; subj-trailer =
# "(fwd)" / WSP. Whitespace is already one space at most (step 1).
_BLOB = r"\[[^\[\]]*\] ?"
_SUBJ_LEADER = re.compile(rf"(?:{_BLOB})*(?:re|fwd?) ?(?:{_BLOB})?:| ", re.I)
_SUBJ_BLOB = re.compile(_BLOB)
_SUBJ_TRAILER = re.compile(r"(?:\(fwd\)| )\Z", re.I)
_WHITESPACE = re.compile(r"[ \t\r\n]+")
_CASEMAP = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MSGID = re.compile(r"<[^<>\s]+>")
# Messages from which THREAD builds its tree in a thread: the tree, base subjects
# and the response are pure work that would otherwise hold the loop for seconds.
THREAD_OFF_LOOP = 500


def casemap(text: str) -> str:
    """The i;ascii-casemap collation (RFC 4790 §9.2) SORT and THREAD compare with
    (RFC 5256 §2.2): a-z fold to A-Z, nothing else changes, octet order."""
    return text.translate(_CASEMAP)


def base_subject(subject: str) -> str:
    """RFC 5256 §2.1 base subject, in the i;ascii-casemap form."""
    return subject_key(subject)[0]


def subject_key(subject: str) -> tuple[str, bool]:
    """RFC 5256 §2.1 base subject, step by step, and whether the steps removed a
    reply or forward mark (a subj-refwd, a "(fwd)" trailer or "[fwd: ...]"), which
    makes the message "a reply or forward" for THREAD REFERENCES step 5."""
    text = _WHITESPACE.sub(" ", subject)  # step 1 (encoded words are decoded already)
    reply = False
    while True:
        while (match := _SUBJ_TRAILER.search(text)) is not None:  # step 2
            reply = reply or match.group(0) != " "
            text = text[: match.start()]
        while True:  # steps 3 to 5
            before = text
            while (match := _SUBJ_LEADER.match(text)) is not None and match.end():
                reply = reply or match.group(0) != " "
                text = text[match.end() :]
            blob = _SUBJ_BLOB.match(text)
            if blob is not None and text[blob.end() :]:  # step 4
                text = text[blob.end() :]
            if text == before:
                break
        if text[:5].upper() == "[FWD:" and text.endswith("]"):  # step 6
            text = text[5:-1]
            reply = True
            continue
        return casemap(text), reply


@dataclass(slots=True)
class Info:
    """What SORT and THREAD need of one message, from the parse kept at delivery."""

    index: int
    arrival: float
    size: int
    sent: float  # the Date: field as Unix time, else the arrival (RFC 5256 §2.2)
    subject: str
    envelope: Envelope
    references: str = ""

    def address(self, name: str, display: bool = False) -> str:
        """RFC 5256 §3 FROM/TO/CC (first addr-mailbox), RFC 5957 DISPLAYFROM/DISPLAYTO."""
        addrs = {"from": self.envelope.from_, "to": self.envelope.to, "cc": self.envelope.cc}
        if not display:
            # the first ENVELOPE entry, a group's start (its name as mailbox) included
            listed = addrs[name]
            mailbox = listed[0].mailbox if listed else None
            return casemap(decode_words(mailbox)) if mailbox else ""
        first = next((a for a in addrs[name] or () if a.mailbox and a.host is not None), None)
        if first is None or first.mailbox is None:
            return ""
        if first.name:
            return decode_words(first.name).casefold()
        return decode_words(first.mailbox + b"@" + (first.host or b"")).casefold()


async def _infos(searcher: Searcher, found: list[int], references: bool = False) -> list[Info]:
    messages = await searcher.messages()
    out = []
    for i in found:
        message = messages.get(searcher.view.uids[i])
        if message is None:
            continue
        parsed = searcher.parsed(message)
        env = parsed.envelope
        info = Info(
            i,
            message.internaldate,
            message.size,
            message.internaldate if parsed.date is None else parsed.date,
            decode_words(env.subject) if env.subject is not None else "",
            env,
        )
        if references:
            values = [v for name, v in await searcher.headers(i) if name == b"references"]
            info.references = values[0].decode("utf-8", "replace") if values else ""
        out.append(info)
        await searcher.budget.charge()
    return out


def _sort_key(info: Info, key: str) -> Any:
    if key == "ARRIVAL":
        return info.arrival
    if key == "DATE":
        return info.sent
    if key == "SIZE":
        return info.size
    if key == "SUBJECT":
        return base_subject(info.subject)
    if key in ("FROM", "TO", "CC"):
        return info.address(key.lower())
    return info.address("from" if key == "DISPLAYFROM" else "to", display=True)


async def sort(s: Session, cmd: c.Sort) -> str:
    view = s.selected()
    check_charset(cmd.charset)
    s.contexts.check(cmd.tag, cmd.return_opts)
    indexes = await sorted_indexes(Searcher(s, view), cmd.key, cmd.criteria)
    numbers = [view.uids[i] if cmd.uid else i + 1 for i in indexes]
    if cmd.return_opts is not None:
        write_esort(s, cmd, [view.uids[i] for i in indexes], numbers)
        return "SORT completed"
    s.conn.write(r.untagged("SORT" + "".join(f" {n}" for n in numbers)))
    return "SORT completed"


async def sorted_indexes(
    searcher: Searcher, key: c.SearchKey, criteria: tuple[tuple[str, bool], ...]
) -> list[int]:
    """The view indexes of the messages matching `key`, in the order of `criteria`."""
    found = sorted(await searcher.evaluate(key))
    infos = await _infos(searcher, found)
    infos.sort(key=lambda info: info.index)
    keys = await _sort_keys(infos, [name for name, _ in criteria], searcher.budget)
    order = list(range(len(infos)))
    for name, reverse in reversed(criteria):
        order.sort(key=keys[name].__getitem__, reverse=reverse)
    return [infos[k].index for k in order]


async def _sort_keys(
    infos: list[Info], criteria: list[str], budget: Budget
) -> dict[str, list[Any]]:
    """Each criterion's key per message, made before sorting: base subjects and
    decoded addresses are the costly part, and here the loop turns between them."""
    keys: dict[str, list[Any]] = {}
    for key in criteria:
        if key not in keys:
            keys[key] = values = []
            for info in infos:
                values.append(_sort_key(info, key))
                await budget.charge()
    return keys


# -- THREAD --------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Node:
    info: Info | None = None
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)

    def date(self) -> tuple[float, int]:
        if self.info is not None:
            return (self.info.sent, self.info.index)
        return min((ch.date() for ch in self.children), default=(0.0, 0))

    def has_descendant(self, other: Node) -> bool:
        stack = list(self.children)
        while stack:
            node = stack.pop()
            if node is other:
                return True
            stack.extend(node.children)
        return False


def _descendants_first(roots: list[Node]) -> list[Node]:
    """Every node under `roots`, each after all of its descendants.

    Threads nest as deep as their References chains (one message may list
    thousands): the tree is walked with a list, never by recursion.
    """
    order: list[Node] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    order.reverse()
    return order


async def thread(s: Session, cmd: c.Thread) -> str:
    view = s.selected()
    check_charset(cmd.charset)
    searcher = Searcher(s, view)
    found = sorted(await searcher.evaluate(cmd.key))
    infos = await _infos(searcher, found, references=cmd.algorithm == "REFERENCES")
    numbers = {i.index: view.uids[i.index] if cmd.uid else i.index + 1 for i in infos}
    line = await run_off_loop(
        len(infos), THREAD_OFF_LOOP, _thread_line, cmd.algorithm, infos, numbers
    )
    s.conn.write(r.untagged(line))
    return "THREAD completed"


def _thread_line(algorithm: str, infos: list[Info], numbers: dict[int, int]) -> str:
    """The THREAD response: pure, so that a big mailbox's runs in a thread."""
    roots = _ordered_subject(infos) if algorithm == "ORDEREDSUBJECT" else _references(infos)
    return "THREAD " + "".join(f"({_format(n, numbers)})" for n in roots)


def _format(root: Node, numbers: dict[int, int]) -> str:
    """RFC 5256 §4 thread-list: "1 2 (3)(4 5)"; a chain is a run of numbers, each
    branch a parenthesized list (walked with a stack: branches nest deep too)."""
    out: list[str] = []
    stack: list[Node | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        node, chain = item, []
        while True:
            if node.info is not None:
                chain.append(str(numbers[node.info.index]))
            if len(node.children) != 1:
                break
            node = node.children[0]
        out.append(" ".join(chain))
        if node.children and chain:
            out.append(" ")
        for ch in reversed(node.children):
            stack.extend((")", ch, "("))
    return "".join(out)


def _ordered_subject(infos: list[Info]) -> list[Node]:
    """RFC 5256 §3: group by base subject, sort by sent date; later messages are children."""
    groups: dict[str, list[Info]] = {}
    for info in sorted(infos, key=lambda i: (i.sent, i.index)):
        groups.setdefault(base_subject(info.subject), []).append(info)
    roots = []
    for members in groups.values():
        root = Node(members[0])
        root.children = [Node(m, root) for m in members[1:]]
        roots.append(root)
    roots.sort(key=Node.date)
    return roots


def _references(infos: list[Info]) -> list[Node]:
    """RFC 5256 §2.2 (after JWZ): link by References/In-Reply-To (step 1), prune
    dummies (4), merge threads by base subject (5), sort siblings by date (6)."""
    table: dict[str, Node] = {}
    for info in infos:
        node = _link_message(table, info)
        node.info = info
    roots = [n for n in table.values() if n.parent is None]
    roots = _prune(roots)
    # step 5 walks the roots oldest first, a dummy's subject being its oldest
    # child's: sorted here already, as Dovecot does (the RFC leaves the order open)
    _sort_tree(roots)
    roots = _merge_subjects(roots)
    _sort_tree(roots)
    return roots


def _link_message(table: dict[str, Node], info: Info) -> Node:
    msgid = next(iter(_MSGID.findall(_text(info.envelope.message_id))), "")
    if not msgid or (msgid in table and table[msgid].info is not None):
        msgid = f"<postfach-{info.index}@dummy>"
    node = table.setdefault(msgid, Node())
    refs = _MSGID.findall(info.references)
    if not refs:
        refs = _MSGID.findall(_text(info.envelope.in_reply_to))[:1]
    prev: Node | None = None
    for ref in refs:
        cur = table.setdefault(ref, Node())
        if (
            prev is not None
            and cur.parent is None
            and cur is not prev
            and not cur.has_descendant(prev)
        ):
            _set_parent(cur, prev)
        prev = cur
    if node.parent is not None:
        node.parent.children.remove(node)
        node.parent = None
    if prev is not None and prev is not node and not node.has_descendant(prev):
        _set_parent(node, prev)
    return node


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", "replace")


def _set_parent(child: Node, parent: Node) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
    child.parent = parent
    parent.children.append(child)


def _prune(roots: list[Node]) -> list[Node]:
    """RFC 5256 §4 step 4: dummies without children go, dummies with children
    give them to their parent (at the top only a dummy with one child does)."""
    for node in _descendants_first(roots):
        node.children = _pruned(node.children, top=False)
        for ch in node.children:
            ch.parent = node
    return _pruned(roots, top=True)


def _pruned(nodes: list[Node], top: bool) -> list[Node]:
    """One list of siblings pruned; their own children are pruned already."""
    out: list[Node] = []
    for node in nodes:
        if node.info is None:
            if not node.children:
                continue
            if not top or len(node.children) == 1:
                for ch in node.children:
                    ch.parent = node.parent
                out.extend(node.children)
                continue
        out.append(node)
    return out


def _subject_of(node: Node) -> tuple[str, bool]:
    """Step 5.B: the thread's subject, a dummy's from its first (oldest) child."""
    info = node.info or (node.children[0].info if node.children else None)
    return subject_key(info.subject) if info else ("", False)


def _merge_subjects(roots: list[Node]) -> list[Node]:
    """RFC 5256 §2.2 step 5: threads whose roots share a base subject are merged."""
    subjects = [_subject_of(root) for root in roots]
    table: dict[str, Node] = {}  # step 5.C
    replies: dict[int, bool] = {}
    for root, (subject, reply) in zip(roots, subjects, strict=True):
        replies[id(root)] = reply
        if not subject:
            continue
        held = table.get(subject)
        if held is None or (
            held.info is not None and (root.info is None or (replies[id(held)] and not reply))
        ):
            table[subject] = root
    out: list[Node] = []
    gone: set[int] = set()
    for root, (subject, reply) in zip(roots, subjects, strict=True):  # step 5.D
        if root.parent is not None or id(root) in gone:
            continue  # merged already, under a dummy made for it
        held = table.get(subject) if subject else None
        if held is None or held is root:
            out.append(root)
            continue
        if held.info is None and root.info is None:
            for child in list(root.children):
                _set_parent(child, held)
            gone.add(id(root))
        elif held.info is None:
            _set_parent(root, held)
        elif root.info is None:
            _set_parent(held, root)
            table[subject] = root
            gone.add(id(held))
            out.append(root)
        elif reply and not replies[id(held)]:
            _set_parent(root, held)
        else:
            dummy = Node()
            _set_parent(held, dummy)
            _set_parent(root, dummy)
            table[subject] = dummy
            gone.add(id(held))
            out.append(dummy)
    return [root for root in out if id(root) not in gone and root.parent is None]


def _sort_tree(roots: list[Node]) -> None:
    for node in _descendants_first(roots):
        node.children.sort(key=Node.date)
    roots.sort(key=Node.date)
