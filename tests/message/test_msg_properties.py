"""Hypothesis properties: any bytes parse without error into an ordered tree of
in-bounds offsets that round-trips through JSON; generated MIME trees come back
part for part through section_bytes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfach.message import BodyPart, ParsedMessage, find_part, parse_message, section_bytes
from postfach.message.parse import _parse
from postfach.message.searchhead import head_search_text

FRAGMENTS = [
    b"--b\r\n",
    b"--b--\r\n",
    b"--c\n",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b";",
    b"\x00",
    b"\xff\xfe",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b'Content-Type: multipart/digest; boundary="c"\n',
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: text/html; charset*0*=utf-8''%E2; charset*1=x\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b'From: "a\\" b" <x@y>, g:;\r\n',
    b"To: (c (d)) e@f\r\n",
    b"Subject: =?utf-8?b?w6Q=?=\r\n",
    b"Date: Mon, 1 Jan 2024 10:00:00 +0100\r\n",
    b"Content-Disposition: attachment; filename=a\r\n",
    b"Content-Language: en\r\n",
    b"abc",
    b"<p>",
    b"=3D",
    b"=\r\n",
    b"(",
    b")",
    b'"',
    b"<",
    b">",
    b"@",
]
mime_soup = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=8), max_size=60).map(b"".join)
any_bytes = st.binary(max_size=400) | mime_soup


def check_tree(part: BodyPart, lo: int, hi: int) -> None:
    assert lo <= part.header_start <= part.header_end <= part.body_end <= hi
    assert part.size == part.body_end - part.header_end
    if part.type == "multipart":
        assert part.parts
    previous = part.header_end
    for child in part.parts:
        assert child.header_start >= previous
        check_tree(child, part.header_end, part.body_end)
        previous = child.body_end
    if part.message is not None:
        inner = part.message[1]
        assert (inner.header_start, inner.body_end) == (part.header_end, part.body_end)
        check_tree(inner, part.header_end, part.body_end)


def paths(part: BodyPart, prefix: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Every part number that exists below `part` (plus one that does not)."""
    out = [prefix + (len(part.parts) + 1,)]
    children = part.parts or (part,)
    for i, child in enumerate(children, 1):
        out.append(prefix + (i,))
        if child.parts and child is not part:
            out += paths(child, prefix + (i,))
        elif child.message is not None:
            out += paths(child.message[1], prefix + (i,))
    return out


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(any_bytes)
def test_any_bytes_parse_to_a_sound_tree(raw: bytes) -> None:
    parsed = _parse(raw)
    assert parsed.header_end == parsed.body.header_end
    assert (parsed.body.header_start, parsed.body.body_end) == (0, len(raw))
    check_tree(parsed.body, 0, len(raw))
    assert ParsedMessage.from_json(parsed.to_json()) == parsed
    assert len(parsed.search.body) <= 256 * 1024
    search = parsed.search
    addresses = (search.from_, search.to, search.cc, search.bcc)
    # the head text the parser makes from its own scan equals one scanned anew
    assert search.head == head_search_text(raw, parsed.header_end, parsed.body, addresses)
    for path in paths(parsed.body)[:40]:
        for spec in (None, "HEADER", "TEXT", "MIME", "HEADER.FIELDS"):
            section_bytes(raw, parsed, path, spec, ("subject",), prefix=b"X-P: 1\r\n")


# -- generated MIME trees -------------------------------------------------------


@dataclass
class Node:
    kind: str  # "leaf", "multi", "message"
    text: str = ""
    children: list[Node] = field(default_factory=list)


@dataclass
class Rendered:
    header: bytes
    body: bytes
    children: list[Rendered] = field(default_factory=list)
    inner: Rendered | None = None


words = st.text(alphabet="abcxyz ÄÖé.,!?=<>:;", max_size=12)
leaves = st.builds(Node, st.just("leaf"), st.lists(words, max_size=4).map("\n".join))
trees = st.recursive(
    leaves,
    lambda kids: (
        st.builds(Node, st.just("multi"), st.just(""), st.lists(kids, min_size=1, max_size=4))
        | st.builds(Node, st.just("message"), words, kids.map(lambda k: [k]))
    ),
    max_leaves=10,
)


def render(node: Node, eol: bytes, counter: itertools.count[int]) -> Rendered:
    if node.kind == "leaf":
        body = node.text.encode().replace(b"\n", eol)
        return Rendered(b"Content-Type: text/plain; charset=utf-8" + eol, body)
    if node.kind == "message":
        inner = render(node.children[0], eol, counter)
        inner.header = b"Subject: " + node.text.encode() + eol + inner.header
        return Rendered(
            b"Content-Type: message/rfc822" + eol, inner.header + eol + inner.body, inner=inner
        )
    boundary = b"=_b%d" % next(counter)
    kids = [render(child, eol, counter) for child in node.children]
    body = b"preamble" + eol
    for kid in kids:
        body += b"--" + boundary + eol + kid.header + eol + kid.body + eol
    body += b"--" + boundary + b"--" + eol + b"epilogue"
    header = b'Content-Type: multipart/mixed; boundary="' + boundary + b'"' + eol
    return Rendered(header, body, children=kids)


def numbered(
    r: Rendered, path: tuple[int, ...], out: list[tuple[tuple[int, ...], Rendered]]
) -> None:
    """RFC 9051 §6.4.5 part numbers of everything below the entity `r`."""
    items = [(c, path + (i,)) for i, c in enumerate(r.children, 1)] or [(r, path + (1,))]
    for child, address in items:
        out.append((address, child))
        if child.children:
            numbered(child, address, out)
        elif child.inner is not None:
            numbered(child.inner, address, out)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(trees, st.sampled_from([b"\r\n", b"\n"]), st.text(alphabet="abc äö", max_size=10))
def test_generated_trees_come_back_part_for_part(tree: Node, eol: bytes, subject: str) -> None:
    top = render(tree, eol, itertools.count())
    top.header = (
        b"From: Someone <s@example.org>" + eol + b"Subject: " + subject.encode() + eol + top.header
    )
    raw = top.header + eol + top.body
    parsed = parse_message(raw)
    assert parsed.envelope.subject == subject.encode().strip()
    assert section_bytes(raw, parsed, (), "HEADER") == top.header + eol
    assert section_bytes(raw, parsed, (), "TEXT") == top.body
    expected: list[tuple[tuple[int, ...], Rendered]] = []
    numbered(top, (), expected)
    for path, r in expected:
        assert section_bytes(raw, parsed, path, None) == r.body, path
        assert section_bytes(raw, parsed, path, "MIME") == r.header + eol, path
        part = find_part(parsed, path)
        assert part is not None
        if r.inner is not None:
            assert section_bytes(raw, parsed, path, "HEADER") == r.inner.header + eol
            assert section_bytes(raw, parsed, path, "TEXT") == r.inner.body
        if not r.children and r.inner is None:
            assert part.lines == r.body.count(b"\n") + (bool(r.body) and not r.body.endswith(b"\n"))
    assert ParsedMessage.from_json(parsed.to_json()) == parsed
