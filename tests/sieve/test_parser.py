"""compile_script: what it accepts, what it refuses and where it says the fault
is; and a hypothesis fuzz: any text or bytes gives a Script or a SieveError with
a line and column, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfach.sieve import SUPPORTED_EXTENSIONS, Script, SieveError, compile_script
from postfach.sieve.interpreter import run
from postfach.sieve.mailview import Envelope, MailView, RunContext


def error_of(text: str | bytes) -> str:
    with pytest.raises(SieveError) as caught:
        compile_script(text)
    error = caught.value
    assert str(error) == f"line {error.line}, column {error.column}: {error.message}"
    return str(error)


def test_supported_extensions() -> None:
    for extension in (
        "fileinto", "reject", "ereject", "envelope", "body", "variables", "imap4flags",
        "copy", "relational", "subaddress", "date", "index", "vacation", "mailbox",
        "comparator-i;ascii-numeric",
    ):  # fmt: skip
        assert extension in SUPPORTED_EXTENSIONS
    script = compile_script(f"require {list(SUPPORTED_EXTENSIONS)!r};".replace("'", '"'))
    assert script.requires == frozenset(SUPPORTED_EXTENSIONS)


def test_lexical_forms() -> None:
    script = compile_script(
        "# comment\r\n/* block\ncomment */ require [\"fileinto\"]; # trailing\n"
        'if size :over 10K { fileinto "a\\"b\\\\c\\d"; }\n'
        "if header :is \"x\" text: # comment after text:\n..dot\nline\n.\n{ stop; }\n"
        "KEEP;"
    )
    assert isinstance(script, Script)
    fileinto = script.commands[1].block[0]  # type: ignore[index]
    assert fileinto.positional[0].values == ('a"b\\cd',)  # type: ignore[union-attr]
    header = script.commands[2].tests[0]
    assert header.positional[1].values == (".dot\nline\n",)  # type: ignore[union-attr]
    assert compile_script(b'require "fileinto"; fileinto "\xc3\xa4";').requires == {"fileinto"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('keep;\nfoo "x";', "line 2, column 1: unknown command 'foo'"),
        ("if bar { }", "line 1, column 4: unknown test 'bar'"),
        ('fileinto "x";', 'line 1, column 1: the command fileinto needs require "fileinto"'),
        ('require "fileinto";\nfileinto :copy "x";', 'line 2, column 10: :copy needs require "copy"'),  # noqa: E501
        ('require "frobnicate";', "line 1, column 9: unsupported extension 'frobnicate'"),
        ('keep; require "fileinto";', "line 1, column 7: require must come before every other command"),  # noqa: E501
        ('if true { require "fileinto"; }', "line 1, column 11: require is allowed only at the start of the script"),  # noqa: E501
        ('if header :is :contains "a" "b" {}', "line 1, column 15: :contains cannot go with :is"),
        ('if header :is :is "a" "b" {}', "line 1, column 15: :is is given twice"),
        ('if header :over "a" "b" {}', "line 1, column 11: test header takes no :over"),
        ('if header "a" {}', "line 1, column 4: header takes 2 positional arguments, not 1"),
        ('if header "a" "b" "c" {}', "line 1, column 19: header takes 2 positional arguments, not 3"),  # noqa: E501
        ("if size 10 {}", "line 1, column 4: size needs :over or :under"),
        ('if size :over "10" {}', "line 1, column 15: size needs a number here"),
        ('if header :comparator "i;frob" "a" "b" {}', "line 1, column 23: unknown comparator 'i;frob'"),  # noqa: E501
        (
            'if header :comparator "i;ascii-numeric" "a" "b" {}',
            'line 1, column 23: the comparator i;ascii-numeric needs require "comparator-i;ascii-numeric"',  # noqa: E501
        ),
        (
            'require ["relational", "comparator-i;ascii-numeric"];\n'
            'if header :contains :comparator "i;ascii-numeric" "a" "b" {}',
            "line 2, column 4: the comparator i;ascii-numeric cannot do :contains",
        ),
        ('require "relational"; if header :value "xx" "a" "b" {}', "line 1, column 40: unknown relational operator 'xx'"),  # noqa: E501
        ('if header :count "gt" "a" "b" {}', 'line 1, column 11: :count needs require "relational"'),  # noqa: E501
        ('require "fileinto"; fileinto ["a", "b"];', "line 1, column 30: fileinto needs a string here"),  # noqa: E501
        ('require "vacation"; vacation :days "3" "x";', "line 1, column 30: :days needs a number after it"),  # noqa: E501
        ('require "vacation"; vacation :from "not an address" "x";', "line 1, column 36: :from needs a mail address, not 'not an address'"),  # noqa: E501
        ('redirect "nobody";', "line 1, column 10: redirect needs a mail address, not 'nobody'"),
        ('require "variables"; set "1x" "v";', "line 1, column 26: bad variable name '1x'"),
        ('require "variables"; set "a.b" "v";', "line 1, column 26: unknown variable namespace in 'a.b'"),  # noqa: E501
        ('require "variables"; set :lower :upper "a" "v";', "line 1, column 33: :upper cannot go with :lower"),  # noqa: E501
        ('require "date"; if date "date" "fortnight" "x" {}', "line 1, column 32: unknown date part 'fortnight'"),  # noqa: E501
        ('require "date"; if date :zone "CET" "date" "year" "x" {}', 'line 1, column 31: bad time zone \'CET\' (write "+hhmm" or "-hhmm")'),  # noqa: E501
        ('require "index"; if header :last "a" "b" {}', "line 1, column 21: :last needs :index"),
        ('require "index"; if header :index 0 "a" "b" {}', "line 1, column 35: :index counts from 1"),  # noqa: E501
        ('require "envelope"; if envelope "cc" "x" {}', "line 1, column 33: unknown envelope part 'cc'"),  # noqa: E501
        ("elsif true {}", "line 1, column 1: elsif must follow if or elsif"),
        ("keep; else {}", "line 1, column 7: else must follow if or elsif"),
        ("if true;", "line 1, column 1: if needs a block { ... }"),
        ("keep { }", "line 1, column 1: keep takes no block; end it with ';'"),
        ("if not (true, false) {}", "line 1, column 15: not takes exactly one test"),
        ("if allof {}", "line 1, column 4: allof needs a list of tests in ( ... )"),
        ("if true true {}", "line 1, column 9: true takes no test"),
        ("keep ]", "line 1, column 6: expected ';' or a block, found ']'"),
        ("keep 3;", "line 1, column 6: keep takes no positional argument, not 1"),
        ("keep", "line 1, column 5: expected ';' or a block, found the end of the script"),
        ("if true { keep;", "line 1, column 16: expected a command or '}', found the end of the script"),  # noqa: E501
        ('if header ["a" "b"] "c" {}', "line 1, column 16: expected ',' or ']', found a string"),
        ("if anyof (true,) {}", "line 1, column 16: expected a test, found ')'"),
        ('keep; "x"', "line 1, column 7: unexpected a string"),
        ('"never closed', 'line 1, column 1: the string is never closed (")'),
        ("/* never closed", "line 1, column 1: the comment is never closed (*/)"),
        ("keep;\n  reject text:\nno end", 'line 2, column 10: the text: string is never ended (a line with a lone ".")'),  # noqa: E501
        ("reject text: x\n.\n;", "line 1, column 14: text: must end its line"),
        ("keep: ;", "line 1, column 5: a tag needs a name after the colon"),
        ("keep @;", "line 1, column 6: unexpected character '@'"),
        ("if size :over 99999999999999999999G {}", "line 1, column 15: the number is too large"),
        (b"keep;\n\xff", "line 2, column 1: the script is not UTF-8"),
        ("if " + "not " * 60 + "true {}", "line 1, column 204: tests are nested too deeply"),
        ("if true {" * 60, "line 1, column 459: blocks are nested too deeply"),
    ],
)
def test_refusals_say_where(text: str | bytes, error: str) -> None:
    assert error_of(text) == error


SIEVE_WORDS = [
    "require", "if", "elsif", "else", "keep", "discard", "stop", "fileinto", "redirect",
    "reject", "vacation", "set", "header", "address", "envelope", "size", "not", "anyof",
    "allof", "true", "false", "exists", "body", "date", "string", "hasflag", "addflag",
    ":is", ":contains", ":matches", ":over", ":under", ":copy", ":flags", ":days", ":count",
    ":value", ":comparator", ":index", ":last", ":create", ":zone", '"fileinto"',
    '"variables"', '"x@example.org"', '"${1}"', '"i;ascii-numeric"', '"ge"', "10K", "1",
    "[", "]", "(", ")", "{", "}", ",", ";", "text:\n.\n", "#c\n", "/*c*/", '"a*?\\\\"',
]  # fmt: skip


def _outcome(text: str | bytes) -> None:
    try:
        compile_script(text)
    except SieveError as exc:
        assert exc.line >= 1 and exc.column >= 1 and exc.message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_fuzz_text(text: str) -> None:
    _outcome(text)


@settings(max_examples=300, deadline=None)
@given(st.binary())
def test_fuzz_bytes(data: bytes) -> None:
    _outcome(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SIEVE_WORDS), max_size=40))
def test_fuzz_token_soup(words: list[str]) -> None:
    _outcome(" ".join(words))


REQUIRE = (
    'require ["fileinto", "variables", "imap4flags", "relational", "body", "date", "index",'
    ' "envelope", "subaddress", "copy", "mailbox", "vacation", "reject",'
    ' "comparator-i;ascii-numeric"];\n'
)
_STRING = st.sampled_from(
    ['"x"', '"*"', '"?*?"', '"${1}"', '"${x}"', '"[*] *"', '"\\\\Seen $a"', '""',
     '"a@example.org"', '"5"', '"Subject"', '"from"', '"to"', '"received"', '"ä*"']
)  # fmt: skip
_STRINGS = st.one_of(_STRING, st.lists(_STRING, min_size=1, max_size=3).map(
    lambda items: "[" + ", ".join(items) + "]"
))  # fmt: skip
_MATCH = st.sampled_from(
    ["", ":is", ":contains", ":matches", ':count "ge" :comparator "i;ascii-numeric"',
     ':value "lt"', ':value "eq" :comparator "i;octet"', ":contains :comparator \"i;octet\""]
)  # fmt: skip
_PART = st.sampled_from(["", ":all", ":localpart", ":domain", ":user", ":detail"])
_DATE_PART = st.sampled_from(['"year"', '"weekday"', '"iso8601"', '"std11"', '"zone"', '"x"'])
_INDEX = st.sampled_from(["", ":index 1", ":index 2 :last", ":index 9"])


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


_LEAF_TEST = st.one_of(
    st.builds(lambda m, i, h, k: _join("header", m, i, h, k), _MATCH, _INDEX, _STRINGS, _STRINGS),
    st.builds(lambda p, m, h, k: _join("address", p, m, h, k), _PART, _MATCH, _STRINGS, _STRINGS),
    st.builds(
        lambda p, m, e, k: _join("envelope", p, m, e, k),
        _PART, _MATCH, st.sampled_from(['"from"', '"to"', '["from", "to"]']), _STRINGS,
    ),
    st.builds(
        lambda t, m, k: _join("body", t, m, k),
        st.sampled_from(["", ":raw", ":text", ':content "text"', ':content ["", "multipart"]']),
        _MATCH, _STRINGS,
    ),
    st.builds(
        lambda z, m, i, h, d, k: _join("date", z, m, i, h, d, k),
        st.sampled_from(["", ':zone "+0130"', ":originalzone"]), _MATCH, _INDEX,
        st.sampled_from(['"date"', '"received"', '"subject"']), _DATE_PART, _STRINGS,
    ),
    st.builds(lambda m, d, k: _join("currentdate", m, d, k), _MATCH, _DATE_PART, _STRINGS),
    st.builds(lambda m, a, b: _join("string", m, a, b), _MATCH, _STRINGS, _STRINGS),
    st.builds(lambda m, k: _join("hasflag", m, k), _MATCH, _STRINGS),
    st.builds(lambda k: _join("exists", k), _STRINGS),
    st.builds(lambda k: _join("mailboxexists", k), _STRINGS),
    st.sampled_from(["true", "false", "size :over 10", "size :under 1K"]),
)  # fmt: skip
_TEST = st.recursive(
    _LEAF_TEST,
    lambda inner: st.one_of(
        inner.map(lambda t: "not " + t),
        st.lists(inner, min_size=1, max_size=3).map(lambda ts: "anyof (" + ", ".join(ts) + ")"),
        st.lists(inner, min_size=1, max_size=3).map(lambda ts: "allof (" + ", ".join(ts) + ")"),
    ),
    max_leaves=6,
)  # fmt: skip
_ACTION = st.one_of(
    st.sampled_from(["keep;", "discard;", "stop;", 'reject "no";', 'keep :flags "$k";']),
    st.builds(
        lambda o, m: _join("fileinto", o, m) + ";",
        st.sampled_from(["", ":copy", ":create", ":flags [\"\\\\Seen\"]", ":copy :create"]),
        _STRING,
    ),
    st.builds(lambda o, a: _join("redirect", o, a) + ";", st.sampled_from(["", ":copy"]),
              st.sampled_from(['"a@example.org"', '"${x}"', '"${1}@example.org"'])),
    st.builds(lambda f, v: _join("set", f, '"x"', v) + ";",
              st.sampled_from(["", ":lower", ":length", ":upperfirst :lower", ":quotewildcard"]),
              _STRING),
    st.builds(lambda c, f: _join(c, f) + ";",
              st.sampled_from(["setflag", "addflag", "removeflag", 'addflag "x"']), _STRINGS),
    st.builds(
        lambda o, r: _join("vacation", o, r) + ";",
        st.sampled_from(["", ":days 0", ':subject "${1}" :handle "h"', ':from "a@example.org"',
                         ":mime", ':addresses ["a@example.org"] :days 400']),
        _STRING,
    ),
)  # fmt: skip
_COMMANDS = st.recursive(
    st.lists(_ACTION, max_size=3).map(" ".join),
    lambda inner: st.builds(
        lambda t, a, e: f"if {t} {{ {a} }}" + (f" else {{ {e} }}" if e else "") + " " + a,
        _TEST, inner, inner,
    ),
    max_leaves=8,
)  # fmt: skip
RUN_MESSAGE = (
    b"Received: from a by b; Sun, 06 Dec 2026 17:00:00 +0000\r\n"
    b"From: Alice <alice+x@example.net>\r\nTo: bob@example.org, c@example.org\r\n"
    b"Subject: [x] =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nDate: Sun, 06 Dec 2026 17:00:00 +0000\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
    b"hello\r\n--b--\r\n"
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_COMMANDS)
def test_fuzz_run(commands: str) -> None:
    """Scripts made from the grammar compile (or are refused with a position) and
    run to an outcome or a SieveError: the interpreter never fails otherwise."""
    try:
        script = compile_script(REQUIRE + commands)
    except SieveError:
        return
    envelope = Envelope("alice+x@example.net", "bob+y@example.org")
    try:
        run(script, MailView(RUN_MESSAGE), RunContext(envelope))
    except SieveError as exc:
        assert exc.line >= 1 and exc.column >= 1


def test_encoded_character() -> None:
    script = compile_script(
        'require ["encoded-character", "fileinto"];\n'
        'fileinto "${hex:48 65 6C 6C 6F} ${UNICODE: 1F600 e4}${hex:4}${hex:123}${x}";'
    )
    fileinto = script.commands[1]
    assert fileinto.positional[0].values == ("Hello 😀ä\x04${hex:123}${x}",)  # type: ignore[union-attr]
    # Without the extension the text stays as written.
    plain = compile_script('require "fileinto"; fileinto "${hex:41}";')
    assert plain.commands[1].positional[0].values == ("${hex:41}",)  # type: ignore[union-attr]
    assert error_of('require "encoded-character";\nkeep :flags "${hex:ff}";') == (
        "line 2, column 13: '${hex:ff}' is not UTF-8"
    )
    assert error_of('require "encoded-character"; keep :flags "${unicode:d800}";') == (
        "line 1, column 42: '${unicode:d800}' names no Unicode character"
    )
