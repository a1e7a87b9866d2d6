"""compile_script: what it accepts, what it refuses and where it says the fault
is; and a hypothesis fuzz: any text or bytes gives a Script or a SieveError with
a line and column, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfach.sieve import SUPPORTED_EXTENSIONS, Script, SieveError, compile_script


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
