"""Sieve's tests (RFC 5228 §5 and the extensions' tests: body, string, hasflag,
mailboxexists, date, currentdate): each yields the values to compare and the
keys; matching.py compares them."""

from __future__ import annotations

import datetime
import email.utils
from collections.abc import Sequence
from typing import Protocol

from postfach.sieve.mailview import MailView, RunContext, date_part, split_address
from postfach.sieve.matching import Matcher
from postfach.sieve.tree import Argument, Number, Script, StringList, Test

__all__ = ["RunState", "Tests"]


class RunState(Protocol):
    """What the tests need of the running script (interpreter.py)."""

    script: Script
    variables: dict[str, str]

    def text(self, argument: Argument | None) -> str: ...
    def strings(self, argument: Argument | None) -> list[str]: ...
    def set_matches(self, found: list[str] | None) -> None: ...
    def flag_names(self, texts: Sequence[str]) -> list[str]: ...

_MATCH_TYPES = ("is", "contains", "matches", "count", "value")


class Tests:
    def __init__(
        self, run: RunState, view: MailView, context: RunContext, now: datetime.datetime
    ) -> None:
        self.run = run
        self.view = view
        self.context = context
        self.now = now

    def test(self, test: Test) -> bool:
        name = test.name
        if name == "true":
            return True
        if name == "false":
            return False
        if name == "not":
            return not self.test(test.tests[0])
        if name == "allof":
            return all(self.test(inner) for inner in test.tests)
        if name == "anyof":
            return any(self.test(inner) for inner in test.tests)
        if name == "size":
            limit = test.positional[0]
            assert isinstance(limit, Number)
            return self.view.size > limit.value if "over" in test.tagged else (
                self.view.size < limit.value
            )
        if name == "exists":
            return all(self.view.has_header(h) for h in self.run.strings(test.positional[0]))
        if name == "mailboxexists":
            names = self.run.strings(test.positional[0])
            known = {m.upper() if m.upper() == "INBOX" else m for m in self.context.mailboxes}
            return all((n.upper() if n.upper() == "INBOX" else n) in known for n in names)
        values = getattr(self, "values_" + name)(test)
        keys = self.run.strings(test.positional[-1])
        found, captures = self.matcher(test).matches(values, keys)
        if found:
            self.run.set_matches(captures)
        return bool(found)

    def matcher(self, test: Test) -> Matcher:
        tagged = test.tagged
        kind = next((t for t in _MATCH_TYPES if t in tagged), "is")
        relation = tagged.get(kind)
        comparator = tagged.get("comparator")
        return Matcher(
            kind,
            relation.values[0] if isinstance(relation, StringList) else "",
            _comparator_name(comparator),
        )

    # -- the values each test compares -------------------------------------------
    def indexed(self, test: Test, values: list[str]) -> list[str]:
        """RFC 5260 §6: :index N (:last counting from the bottom) picks one field."""
        index = test.tagged.get("index")
        if not isinstance(index, Number):
            return values
        at = len(values) - index.value if "last" in test.tagged else index.value - 1
        return [values[at]] if 0 <= at < len(values) else []

    def values_header(self, test: Test) -> list[str]:
        values: list[str] = []
        for name in self.run.strings(test.positional[0]):
            values.extend(self.indexed(test, self.view.header_values(name)))
        return values

    def values_address(self, test: Test) -> list[str]:
        values: list[str] = []
        for name in self.run.strings(test.positional[0]):
            fields = self.indexed(test, self.view.raw_header_values(name))
            values.extend(self.parts(test, self.view.addresses(fields)))
        return values

    def values_envelope(self, test: Test) -> list[str]:
        envelope = self.context.envelope
        addresses: list[str] = []
        for part in self.run.strings(test.positional[0]):
            part = part.lower()
            if part == "from":
                addresses.append(envelope.sender)
            elif part == "to":
                addresses.append(envelope.recipient)
        return self.parts(test, addresses)

    def parts(self, test: Test, addresses: list[str]) -> list[str]:
        """The address part asked for (RFC 5228 §2.7.4, RFC 5233 :user and :detail)."""
        tagged = test.tagged
        values: list[str] = []
        for address in addresses:
            local, domain = split_address(address)
            if "localpart" in tagged:
                values.append(local)
            elif "domain" in tagged:
                values.append(domain)
            elif "user" in tagged:
                values.append(local.partition("+")[0])
            elif "detail" in tagged:
                if "+" in local:  # no separator: no detail to compare (RFC 5233 §4)
                    values.append(local.partition("+")[2])
            else:
                values.append(address)
        return values

    def values_body(self, test: Test) -> list[str]:
        tagged = test.tagged
        transform = next((t for t in ("raw", "content", "text") if t in tagged), "text")
        types = tuple(self.run.strings(tagged["content"])) if transform == "content" else ()
        return self.view.body_values(transform, types)

    def values_string(self, test: Test) -> list[str]:
        values = self.run.strings(test.positional[0])
        if "count" in test.tagged:  # RFC 5229 §5: :count counts the non-empty strings
            return [value for value in values if value]
        return values

    def values_hasflag(self, test: Test) -> list[str]:
        args = test.positional
        names = [n.lower() for n in self.run.strings(args[0])] if len(args) == 2 else [""]
        return self.run.flag_names([self.run.variables.get(name, "") for name in names])

    def values_date(self, test: Test) -> list[str]:
        values: list[str] = []
        header = self.run.text(test.positional[0])
        part = self.run.text(test.positional[1])
        for text in self.indexed(test, self.view.header_values(header)):
            if header.lower() == "received":  # its date follows the last ";" (RFC 5260 §4.1)
                text = text.rpartition(";")[2]
            moment = _parse_date(text)
            if moment is None:
                continue
            if "originalzone" not in test.tagged:
                moment = self.zoned(test, moment)
            value = date_part(moment, part)
            if value is not None:
                values.append(value)
        return values

    def values_currentdate(self, test: Test) -> list[str]:
        value = date_part(self.zoned(test, self.now), self.run.text(test.positional[0]))
        return [] if value is None else [value]

    def zoned(self, test: Test, moment: datetime.datetime) -> datetime.datetime:
        zone = test.tagged.get("zone")
        if not isinstance(zone, StringList):
            local = self.now.utcoffset() or datetime.timedelta()
            return moment.astimezone(datetime.timezone(local))
        text = self.run.text(zone)
        try:
            minutes = int(text[1:3]) * 60 + int(text[3:5])
        except ValueError:
            return moment
        sign = -1 if text.startswith("-") else 1
        return moment.astimezone(datetime.timezone(datetime.timedelta(minutes=sign * minutes)))


def _comparator_name(comparator: Argument | None) -> str:
    if isinstance(comparator, StringList):
        return comparator.values[0].lower()
    return "i;ascii-casemap"


def _parse_date(text: str) -> datetime.datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment
