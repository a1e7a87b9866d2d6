"""The rules page's script generator (web/rulescript.py), without a server: any
rules the page accepts make a script that compiles and reads back the same; a
script changed by hand is recognised as such."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from postfach.sieve import compile_script
from postfach.web.rulescript import (
    Action,
    Field,
    Rule,
    RuleSet,
    Vacation,
    from_script,
    sieve_string,
    to_script,
)

# What the page lets through: no control characters; the reply text may have lines.
LINE = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
    str.strip
)
LINES = st.lists(LINE, min_size=1, max_size=4).map("\n".join)
ADDRESS = st.sampled_from(["bob@example.net", "a.b+c@sub.example.org"])
RULES = st.builds(
    Rule,
    st.sampled_from(Field),
    LINE,
    st.sampled_from(Action),
    st.one_of(LINE, ADDRESS),
).map(
    lambda r: Rule(
        r.field, r.contains, r.action,
        {Action.MOVE: r.target, Action.FORWARD: "bob@example.net"}.get(r.action, ""),
    )
)  # fmt: skip
DATES = st.one_of(st.none(), st.dates(datetime.date(2000, 1, 1), datetime.date(2099, 12, 31)))
VACATIONS = st.one_of(st.none(), st.builds(Vacation, LINE, LINES, DATES, DATES, st.integers(1, 60)))


@given(st.lists(RULES, max_size=6), VACATIONS, VACATIONS)
def test_every_rule_set_compiles_and_reads_back(
    rules: list[Rule], vacation: Vacation | None, off: Vacation | None
) -> None:
    rule_set = RuleSet(tuple(rules), vacation, off)
    text = to_script(rule_set)
    compile_script(text)
    assert from_script(text) == rule_set


def test_hand_edits_are_recognised() -> None:
    rules = RuleSet((Rule(Field.SUBJECT, "sale", Action.READ),))
    text = to_script(rules)
    edited = text.replace('addflag "\\\\Seen";', 'addflag "\\\\Flagged";')
    assert edited != text
    assert from_script(edited) is None
    assert from_script(edited, strict=False) == rules  # what the data line still says
    assert from_script('require "fileinto";\nfileinto "A";\n') is None
    assert from_script(text.replace("# data: {", "# data: [")) is None


def test_the_script_reads_as_expected() -> None:
    rules = RuleSet(
        (
            Rule(Field.FROM, 'boss "B"', Action.MOVE, "Work\\Later"),
            Rule(Field.SUBJECT, "news", Action.READ),
            Rule(Field.TO, "list@", Action.DELETE),
            Rule(Field.SUBJECT, "invoice", Action.FORWARD, "acc@example.net"),
        ),
        Vacation("Away", "Back soon.", datetime.date(2026, 12, 1), None, 5),
    )
    sieve = to_script(rules).split("\n", 2)[2]
    assert sieve == (
        'require ["copy", "date", "fileinto", "imap4flags", "relational", "vacation"];\n'
        'if currentdate :value "ge" "date" "2026-12-01" {\n'
        '    vacation :days 5 :subject "Away" "Back soon.";\n'
        "}\n"
        'if header :contains "subject" "news" {\n'  # mark read first: it marks the copies
        '    addflag "\\\\Seen";\n'
        "}\n"
        'if header :contains "from" "boss \\"B\\"" {\n'
        '    fileinto "Work\\\\Later";\n'
        "}\n"
        'if header :contains ["to", "cc"] "list@" {\n'
        "    discard;\n"
        "}\n"
        'if header :contains "subject" "invoice" {\n'
        '    redirect :copy "acc@example.net";\n'
        "}\n"
    )
    assert to_script(RuleSet()).endswith("\nkeep;\n")
    assert sieve_string('a"b\\c') == '"a\\"b\\\\c"'
