"""The rules page's model and the Sieve script made of it, without I/O.

A user's simple rules ("from contains X → move to folder", mark read,
delete, forward a copy) and vacation reply are kept as one Sieve script,
`RULES_SCRIPT`, which `to_script` writes: the model goes first, as JSON in a
comment line, so `from_script` reads it back, and the Sieve after it is what
delivery runs. A script whose Sieve part is not what `to_script` makes of its
JSON was edited by hand (through ManageSieve, or the raw editor): `from_script`
returns None for it, and the page does not overwrite it silently.

Order in the script: the vacation reply first (RFC 5230; mail a rule deletes
is answered too, as a person would), then the "mark read" rules (imap4flags'
`addflag` must precede the copies it marks), then the others in the order the
user made them. Every rule that matches acts; none stops the others.
"""

from __future__ import annotations

import datetime
import enum
import json
from dataclasses import dataclass, field, replace

__all__ = [
    "FIELDS",
    "MAX_RULES",
    "RULES_SCRIPT",
    "Action",
    "Field",
    "Rule",
    "RuleSet",
    "Vacation",
    "from_script",
    "sieve_string",
    "to_script",
]

RULES_SCRIPT = "postfach-rules"
MAX_RULES = 200
_HEADER = "# postfach rules: made by the web page Rules; change them there."
_DATA = "# data: "


class Field(enum.Enum):
    FROM = "from"
    TO = "to"
    SUBJECT = "subject"


class Action(enum.Enum):
    MOVE = "move"  # target: a folder
    READ = "read"
    DELETE = "delete"
    FORWARD = "forward"  # target: an address; a copy stays


FIELDS = {
    Field.FROM: ("From", '"from"'),
    Field.TO: ("To or Cc", '["to", "cc"]'),
    Field.SUBJECT: ("Subject", '"subject"'),
}


@dataclass(frozen=True, slots=True)
class Rule:
    field: Field
    contains: str
    action: Action
    target: str = ""


@dataclass(frozen=True, slots=True)
class Vacation:
    subject: str
    text: str
    start: datetime.date | None = None  # first day answered; None: from now
    end: datetime.date | None = None  # last day answered; None: until switched off
    days: int = 7  # a sender is answered once in this many days


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    vacation: Vacation | None = None
    # The vacation last saved, kept while it is off so the form shows it again.
    vacation_off: Vacation | None = field(default=None)

    def with_rule(self, rule: Rule) -> RuleSet:
        return replace(self, rules=(*self.rules, rule))

    def without_rule(self, index: int) -> RuleSet:
        return replace(self, rules=self.rules[:index] + self.rules[index + 1 :])


def sieve_string(text: str) -> str:
    """A quoted Sieve string (RFC 5228 §2.4.2): `\\` and `"` escaped, line ends kept."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- the script ------------------------------------------------------------------


def to_script(rules: RuleSet) -> str:
    """The whole script: the header, the model as JSON, then the Sieve."""
    data = json.dumps(_to_json(rules), ensure_ascii=True, sort_keys=True)
    return f"{_HEADER}\n{_DATA}{data}\n{_sieve(rules)}"


def from_script(text: str, *, strict: bool = True) -> RuleSet | None:
    """The model in a script `to_script` made; None when the script is not one,
    or (when `strict`) was changed by hand after."""
    lines = text.split("\n", 2)
    if len(lines) < 3 or lines[0] != _HEADER or not lines[1].startswith(_DATA):
        return None
    try:
        rules = _from_json(json.loads(lines[1][len(_DATA) :]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return rules if not strict or to_script(rules) == text else None


def _sieve(rules: RuleSet) -> str:
    body: list[str] = []
    needs: set[str] = set()
    if rules.vacation is not None:
        body += _vacation(rules.vacation, needs)
    ordered = [r for r in rules.rules if r.action is Action.READ]
    ordered += [r for r in rules.rules if r.action is not Action.READ]
    for rule in ordered:
        body += _rule(rule, needs)
    head = f"require [{', '.join(sieve_string(n) for n in sorted(needs))}];\n" if needs else ""
    return head + "".join(line + "\n" for line in body) if body else head + "keep;\n"


def _rule(rule: Rule, needs: set[str]) -> list[str]:
    test = f"header :contains {FIELDS[rule.field][1]} {sieve_string(rule.contains)}"
    if rule.action is Action.MOVE:
        needs.add("fileinto")
        act = f"fileinto {sieve_string(rule.target)};"
    elif rule.action is Action.READ:
        needs.add("imap4flags")
        act = 'addflag "\\\\Seen";'
    elif rule.action is Action.DELETE:
        act = "discard;"
    else:
        needs.add("copy")
        act = f"redirect :copy {sieve_string(rule.target)};"
    return [f"if {test} {{", f"    {act}", "}"]


def _vacation(vacation: Vacation, needs: set[str]) -> list[str]:
    needs.add("vacation")
    reply = (
        f"vacation :days {vacation.days} :subject {sieve_string(vacation.subject)}"
        f" {sieve_string(vacation.text)};"
    )
    tests = []
    if vacation.start is not None:
        tests.append(f'currentdate :value "ge" "date" "{vacation.start.isoformat()}"')
    if vacation.end is not None:
        tests.append(f'currentdate :value "le" "date" "{vacation.end.isoformat()}"')
    if not tests:
        return [reply]
    needs.update(("date", "relational"))
    test = tests[0] if len(tests) == 1 else f"allof({', '.join(tests)})"
    return [f"if {test} {{", f"    {reply}", "}"]


# -- the JSON ----------------------------------------------------------------------


def _vacation_json(vacation: Vacation | None) -> dict[str, object] | None:
    if vacation is None:
        return None
    return {
        "subject": vacation.subject,
        "text": vacation.text,
        "start": vacation.start.isoformat() if vacation.start else "",
        "end": vacation.end.isoformat() if vacation.end else "",
        "days": vacation.days,
    }


def _to_json(rules: RuleSet) -> dict[str, object]:
    return {
        "rules": [
            {
                "field": r.field.value,
                "contains": r.contains,
                "action": r.action.value,
                "target": r.target,
            }
            for r in rules.rules
        ],
        "vacation": _vacation_json(rules.vacation),
        "vacation_off": _vacation_json(rules.vacation_off),
    }


def _date(text: object) -> datetime.date | None:
    return datetime.date.fromisoformat(str(text)) if text else None


def _vacation_from(data: object) -> Vacation | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise TypeError("vacation is not an object")
    return Vacation(
        str(data["subject"]), str(data["text"]), _date(data["start"]), _date(data["end"]),
        int(data["days"]),
    )  # fmt: skip


def _from_json(data: object) -> RuleSet:
    if not isinstance(data, dict):
        raise TypeError("the data is not an object")
    items = data["rules"]
    if not isinstance(items, list):
        raise TypeError("rules is not a list")
    rules = tuple(
        Rule(Field(i["field"]), str(i["contains"]), Action(i["action"]), str(i["target"]))
        for i in items
    )
    return RuleSet(rules, _vacation_from(data["vacation"]), _vacation_from(data["vacation_off"]))
