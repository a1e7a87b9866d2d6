"""The built-in rules, the classifier's arithmetic and the decision, as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.spam import bayes
from postfach.spam.content import parse_content
from postfach.spam.decide import (
    Action,
    Thresholds,
    decide,
    listed,
    sender_entry,
    spam_headers,
    without_spam_headers,
)
from postfach.spam.rules import (
    auth_hits,
    bayes_hit,
    early_talker_hits,
    encoded_word_hits,
    executable_hits,
    html_link_hits,
    link_mismatch_hits,
    missing_header_hits,
)
from postfach.spam.verdict import SpamVerdict
from postfach.store.spam_records import SpamSettings

GOOD = (
    b"From: Bob <bob@sender.test>\r\nTo: alice@example.org\r\nSubject: lunch\r\n"
    b"Date: Sun, 06 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@sender.test>\r\n\r\n"
    b"Shall we meet at noon?\r\n"
)


def names(hits: list) -> list[str]:
    return [h.name for h in hits]


def html_message(body: str, plain: str | None = None) -> bytes:
    head = b"From: a@sender.test\r\nDate: x\r\nMessage-ID: <1@x>\r\n"
    if plain is None:
        return head + b"Content-Type: text/html\r\n\r\n" + body.encode()
    return head + (
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\n" + plain.encode() + b"\r\n--b\r\n"
        b"Content-Type: text/html\r\n\r\n" + body.encode() + b"\r\n--b--\r\n"
    )


def test_a_good_message_fires_nothing() -> None:
    content = parse_content(GOOD)
    assert missing_header_hits(content) == []
    assert html_link_hits(content) == []
    assert executable_hits(content) == []
    assert encoded_word_hits(content) == []
    assert link_mismatch_hits(content) == []


def test_missing_date_and_message_id() -> None:
    content = parse_content(b"From: a@b.test\r\nSubject: x\r\n\r\nhi\r\n")
    assert names(missing_header_hits(content)) == ["MISSING_DATE", "MISSING_MID"]


def test_html_only_with_many_links() -> None:
    links = "".join(f'<a href="http://shop{i}.test/">offer {i}</a> ' for i in range(6))
    assert names(html_link_hits(parse_content(html_message(links)))) == ["HTML_ONLY_MANY_LINKS"]
    assert names(html_link_hits(parse_content(html_message("<p>hi</p>")))) == ["HTML_ONLY"]
    with_plain = parse_content(html_message(links, plain="offers"))
    assert html_link_hits(with_plain) == []


def test_executable_attachment() -> None:
    raw = (
        b'From: a@b.test\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\ninvoice attached\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        b'filename="invoice.pdf.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"TVqQAAMA\r\n--b--\r\n"
    )
    assert names(executable_hits(parse_content(raw))) == ["EXECUTABLE_ATTACHMENT"]
    pdf = raw.replace(b"invoice.pdf.exe", b"invoice.pdf")
    assert executable_hits(parse_content(pdf)) == []


def test_encoded_word_tricks() -> None:
    ascii_subject = b"From: a@b.test\r\nSubject: =?utf-8?B?RlJFRSBWSUFHUkE=?=\r\n\r\nx"
    assert names(encoded_word_hits(parse_content(ascii_subject))) == ["SUBJECT_ENCODED_ASCII"]
    real_umlaut = b"From: a@b.test\r\nSubject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\nx"
    assert encoded_word_hits(parse_content(real_umlaut)) == []
    # The name shows paypal's address; the mail comes from elsewhere.
    spoof = b"From: =?utf-8?Q?service=40paypal=2Etest_=E2=9C=93?= <x@evil.test>\r\n\r\nx"
    assert "FROM_NAME_SPOOFS_ADDRESS" in names(encoded_word_hits(parse_content(spoof)))


def test_link_text_naming_another_host() -> None:
    phish = '<a href="http://evil.test/login">https://www.bank.test/login</a>'
    assert names(link_mismatch_hits(parse_content(html_message(phish)))) == ["LINK_TEXT_OTHER_HOST"]
    honest = (
        '<a href="https://login.bank.test/x">www.bank.test</a> <a href="http://a.test">here</a>'
    )
    assert link_mismatch_hits(parse_content(html_message(honest))) == []


def test_auth_results_and_early_talker() -> None:
    hits = auth_hits({"spf": "fail", "dkim": "none", "dmarc": "fail"})
    assert names(hits) == ["SPF_FAIL", "DMARC_FAIL"]
    assert sum(h.points for h in hits) == 5.5
    assert names(early_talker_hits(True)) == ["EARLY_TALKER"]
    assert early_talker_hits(False) == []


def test_bayes_bands() -> None:
    assert bayes_hit(None) == []
    assert names(bayes_hit(0.999)) == ["BAYES_99"]
    assert names(bayes_hit(0.5)) == ["BAYES_50"]
    assert names(bayes_hit(0.001)) == ["BAYES_00"]


def test_classifier_separates_what_it_learnt() -> None:
    spam_tokens = ["viagra", "cheap", "subject:offer"]
    ham_tokens = ["meeting", "agenda", "subject:minutes"]
    counts = {t: bayes.Counts(5, 0) for t in spam_tokens}
    counts |= {t: bayes.Counts(0, 5) for t in ham_tokens}
    totals = bayes.Totals(5, 5)
    assert (bayes.probability(spam_tokens, counts, totals) or 0) > 0.95
    assert (bayes.probability(ham_tokens, counts, totals) or 1) < 0.05
    assert bayes.probability(["unknown"], counts, totals) is None
    assert bayes.probability(spam_tokens, counts, bayes.Totals(0, 0)) is None
    # Learnt as spam only, no ham yet: still a verdict.
    alone = bayes.probability(["cheap"], {"cheap": bayes.Counts(1, 0)}, bayes.Totals(1, 0))
    assert (alone or 0) > 0.6


def test_tokens_mark_headers_and_hosts() -> None:
    tokens = bayes.tokens(parse_content(html_message('<a href="http://shop.test/x">Buy now</a>')))
    assert "url:shop.test" in tokens
    assert "buy" in tokens and "now" in tokens
    assert "subject:lunch" in bayes.tokens(parse_content(GOOD))


def test_decide_by_thresholds_and_lists() -> None:
    server = Thresholds(5.0, 15.0)
    none = SpamSettings()
    senders = ["bob@sender.test"]
    assert decide(SpamVerdict(4.9), none, server, senders) is Action.DELIVER
    assert decide(SpamVerdict(5.0), none, server, senders) is Action.FILE
    assert decide(SpamVerdict(15.0), none, server, senders) is Action.REJECT
    own = SpamSettings(file_threshold=2.0, reject_threshold=4.0)
    assert decide(SpamVerdict(3.0), own, server, senders) is Action.FILE
    assert decide(SpamVerdict(4.0), own, server, senders) is Action.REJECT
    allow = SpamSettings(allow=frozenset({"sender.test"}))
    assert decide(SpamVerdict(99.0), allow, server, senders) is Action.DELIVER
    block = SpamSettings(block=frozenset({"bob@sender.test"}))
    assert decide(SpamVerdict(0.0), block, server, senders) is Action.FILE
    assert decide(SpamVerdict(99.0, scanned=False), none, server, senders) is Action.DELIVER


def test_listed_matches_addresses_domains_and_subdomains() -> None:
    entries = frozenset({"bob@a.test", "b.test"})
    assert listed(entries, ["BOB@a.test"])
    assert listed(entries, ["x@mail.b.test"])
    assert not listed(entries, ["eve@a.test", "x@notb.test", ""])


def test_spam_headers_as_spamassassin_writes_them() -> None:
    verdict = SpamVerdict(7.2, ("MISSING_DATE(1.0)", "SPF_FAIL(2.0)", "BAYES_99(3.5)"))
    headers = spam_headers(verdict, 5.0).decode()
    assert headers.startswith("X-Spam-Score: 7.2\r\n")
    assert "X-Spam-Status: Yes, score=7.2 required=5.0 tests=MISSING_DATE(1.0)," in headers
    many = SpamVerdict(1.0, tuple(f"RULE_NUMBER_{i}(0.1)" for i in range(30)))
    for line in spam_headers(many, 5.0).split(b"\r\n"):
        assert len(line) < 100
    assert spam_headers(SpamVerdict(0, scanned=False), 5.0) == b"X-Spam-Status: unscanned\r\n"


def test_incoming_spam_headers_are_removed() -> None:
    forged = b"X-Spam-Status: No, score=-5\r\n\ttests=FAKE\r\nX-Spam-Score: -5\r\n" + GOOD
    assert without_spam_headers(forged) == GOOD
    assert without_spam_headers(GOOD) == GOOD
    # In the body it stays.
    body = GOOD + b"X-Spam-Status: quoted\r\n"
    assert without_spam_headers(body) == body


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash_the_parsers(raw: bytes) -> None:
    content = parse_content(raw)
    bayes.tokens(content)
    for rule in (missing_header_hits, html_link_hits, executable_hits, encoded_word_hits):
        rule(content)
    link_mismatch_hits(content)
    without_spam_headers(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_arbitrary_html_and_headers_never_crash(text: str) -> None:
    raw = (
        "From: "
        + text[:200]
        + "\r\nSubject: "
        + text[:300]
        + "\r\nContent-Type: text/html\r\n\r\n"
        + text
    ).encode("utf-8", "surrogatepass")
    content = parse_content(raw)
    bayes.tokens(content)
    encoded_word_hits(content)
    link_mismatch_hits(content)


def test_sender_entries_are_addresses_or_domains() -> None:
    assert sender_entry(" Bob@Example.NET ") == "bob@example.net"
    assert sender_entry("@example.net") == "example.net"
    assert sender_entry("mail.example.net") == "mail.example.net"
    for bad in ("", "localhost", "a b@example.net", "bob@", "exa mple.net", "x" * 400 + ".net"):
        with pytest.raises(ValueError):
            sender_entry(bad)
