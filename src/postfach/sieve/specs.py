"""What each command and test takes (RFC 5228 and the extensions we support):
its positional arguments, its tags and which may not go together, and the
extension a script must require to use it. The validator checks against these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "ADDRESS_PARTS",
    "COMMANDS",
    "COMPARATORS",
    "DATE_PARTS",
    "MATCH_TYPES",
    "RELATIONAL_OPERATORS",
    "SUPPORTED_EXTENSIONS",
    "TAG_EXTENSIONS",
    "TESTS",
    "Spec",
]

SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    "body",
    "comparator-i;ascii-numeric",
    "comparator-i;ascii-casemap",
    "comparator-i;octet",
    "copy",
    "date",
    "encoded-character",
    "envelope",
    "ereject",
    "fileinto",
    "imap4flags",
    "index",
    "mailbox",
    "reject",
    "relational",
    "subaddress",
    "vacation",
    "variables",
)

# Comparators (RFC 4790) and the extension each needs ("" : always there).
COMPARATORS: Mapping[str, str] = {
    "i;octet": "",
    "i;ascii-casemap": "",
    "i;ascii-numeric": "comparator-i;ascii-numeric",
}
MATCH_TYPES = frozenset({"is", "contains", "matches", "count", "value"})
ADDRESS_PARTS = frozenset({"all", "localpart", "domain", "user", "detail"})
RELATIONAL_OPERATORS = frozenset({"gt", "ge", "lt", "le", "eq", "ne"})
DATE_PARTS = frozenset(
    {
        "year", "month", "day", "date", "julian", "hour", "minute", "second",
        "time", "iso8601", "std11", "zone", "weekday",
    }  # fmt: skip
)
# Tags that belong to an extension wherever they appear.
TAG_EXTENSIONS: Mapping[str, str] = {
    "count": "relational",
    "value": "relational",
    "user": "subaddress",
    "detail": "subaddress",
    "index": "index",
    "last": "index",
    "copy": "copy",
    "flags": "imap4flags",
    "create": "mailbox",
}

# A tag's value: "string", "strings", "number", or None (the tag stands alone).
TagKinds = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class Spec:
    """`positional`: the kinds of the positional arguments ("string": one string,
    "strings": a string list), the first `optional_first` of which may be left out.
    `exclusive`: groups of tags of which at most one may be given; `one_of`: one
    of these tags must be. `tests`: "none", "one" or "many"; `block`: takes one."""

    positional: tuple[str, ...] = ()
    tags: TagKinds = field(default_factory=dict)
    exclusive: tuple[frozenset[str], ...] = ()
    one_of: frozenset[str] = frozenset()
    extension: str = ""
    optional_first: int = 0
    tests: str = "none"
    block: bool = False


_COMPARATOR: TagKinds = {"comparator": "string"}
_MATCH: TagKinds = {
    "is": None, "contains": None, "matches": None, "count": "string", "value": "string",
}  # fmt: skip
_ADDRESS: TagKinds = dict.fromkeys(ADDRESS_PARTS)
_INDEX: TagKinds = {"index": "number", "last": None}
_MATCH_GROUP = frozenset(_MATCH)
_ADDRESS_GROUP = frozenset(_ADDRESS)
_MODIFIERS = ("lower", "upper", "lowerfirst", "upperfirst", "quotewildcard", "length")

COMMANDS: Mapping[str, Spec] = {
    "require": Spec(("strings",)),
    "if": Spec(tests="one", block=True),
    "elsif": Spec(tests="one", block=True),
    "else": Spec(block=True),
    "stop": Spec(),
    "keep": Spec(tags={"flags": "strings"}),
    "discard": Spec(),
    "fileinto": Spec(
        ("string",), {"copy": None, "flags": "strings", "create": None}, extension="fileinto"
    ),
    "redirect": Spec(("string",), {"copy": None}),
    "reject": Spec(("string",), extension="reject"),
    "ereject": Spec(("string",), extension="ereject"),
    "vacation": Spec(
        ("string",),
        {
            "days": "number", "subject": "string", "from": "string",
            "addresses": "strings", "mime": None, "handle": "string",
        },  # fmt: skip
        extension="vacation",
    ),
    "set": Spec(
        ("string", "string"),
        dict.fromkeys(_MODIFIERS),
        (frozenset({"lower", "upper"}), frozenset({"lowerfirst", "upperfirst"})),
        extension="variables",
    ),
    "setflag": Spec(("string", "strings"), extension="imap4flags", optional_first=1),
    "addflag": Spec(("string", "strings"), extension="imap4flags", optional_first=1),
    "removeflag": Spec(("string", "strings"), extension="imap4flags", optional_first=1),
}

TESTS: Mapping[str, Spec] = {
    "address": Spec(
        ("strings", "strings"),
        {**_COMPARATOR, **_ADDRESS, **_MATCH, **_INDEX},
        (_MATCH_GROUP, _ADDRESS_GROUP),
    ),
    "envelope": Spec(
        ("strings", "strings"),
        {**_COMPARATOR, **_ADDRESS, **_MATCH},
        (_MATCH_GROUP, _ADDRESS_GROUP),
        extension="envelope",
    ),
    "header": Spec(("strings", "strings"), {**_COMPARATOR, **_MATCH, **_INDEX}, (_MATCH_GROUP,)),
    "exists": Spec(("strings",)),
    "size": Spec(
        ("number",),
        {"over": None, "under": None},
        (frozenset({"over", "under"}),),
        frozenset({"over", "under"}),
    ),
    "true": Spec(),
    "false": Spec(),
    "not": Spec(tests="one"),
    "allof": Spec(tests="many"),
    "anyof": Spec(tests="many"),
    "body": Spec(
        ("strings",),
        {**_COMPARATOR, **_MATCH, "raw": None, "content": "strings", "text": None},
        (_MATCH_GROUP, frozenset({"raw", "content", "text"})),
        extension="body",
    ),
    "string": Spec(
        ("strings", "strings"), {**_COMPARATOR, **_MATCH}, (_MATCH_GROUP,), extension="variables"
    ),
    "hasflag": Spec(
        ("strings", "strings"),
        {**_COMPARATOR, **_MATCH},
        (_MATCH_GROUP,),
        extension="imap4flags",
        optional_first=1,
    ),
    "mailboxexists": Spec(("strings",), extension="mailbox"),
    "date": Spec(
        ("string", "string", "strings"),
        {**_COMPARATOR, **_MATCH, **_INDEX, "zone": "string", "originalzone": None},
        (_MATCH_GROUP, frozenset({"zone", "originalzone"})),
        extension="date",
    ),
    "currentdate": Spec(
        ("string", "strings"),
        {**_COMPARATOR, **_MATCH, "zone": "string"},
        (_MATCH_GROUP,),
        extension="date",
    ),
}
