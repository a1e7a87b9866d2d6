"""Precision and recall of the built-in spam filter, and the time it adds per message.

The corpus is GENERATED here (no real mail is shipped or downloaded): ham and
spam messages made from fixed templates and word lists with a seeded random
generator, so every run sees the same corpus. Ham: meetings, family, receipts,
newsletters (some HTML-only, some without Message-ID, a few soft SPF
failures); spam: pharmacy, lottery, phishing (link text naming another host),
malware (executable attachments), link-heavy adverts (some with correct
headers and SPF pass, some with encoded-ASCII subjects, SPF/DMARC failures).
The word lists overlap, so the classifier has work to do. A generated corpus
says how the parts work together, not how the filter fares on real mail.

The classifier learns from the first half of each class (as moving mail into
and out of Spam would teach it, one account, SQLite) and is measured on the
other half, at the default threshold (`spam.file_threshold` = 5); the same
figures without learning show what the rules alone do. Latency: wall time of
`check` per message (parsing, rules, the token look-up in the store).

    .venv/bin/python bench/spam.py [--messages 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import statistics
import tempfile
import time
from dataclasses import dataclass

from postfach.config import SpamConfig
from postfach.spam.builtin import BuiltinScorer
from postfach.spam.verdict import ScanFacts
from postfach.store import Store

COMMON = (
    "the and for you with this that have from your will are our please today "
    "thanks time new just about more some know need here also any only"
).split()
HAM_TOPICS = {
    "meeting": "meeting agenda minutes project deadline review slides quarterly team "
    "schedule room tuesday budget draft notes call action items proposal",
    "family": "mum dad dinner weekend birthday kids school holiday photos garden "
    "visit sunday love grandma cake trip train",
    "receipt": "order receipt invoice shipped delivery tracking parcel total paid "
    "account statement reference number customer thank",
    "newsletter": "newsletter issue article community release version update event "
    "conference talk workshop library python linux",
}
SPAM_TOPICS = {
    "pharmacy": "cheap pills pharmacy viagra cialis discount prescription online "
    "order generic meds price lowest shipping",
    "lottery": "winner lottery prize million claim congratulations selected transfer "
    "beneficiary funds bank urgent confidential inheritance",
    "phishing": "account suspended verify login password security confirm identity "
    "unusual activity locked update billing",
    "advert": "offer deal sale free limited exclusive click save percent "
    "bonus subscribe best guaranteed amazing",
}


@dataclass(frozen=True)
class Sample:
    raw: bytes
    auth: dict[str, str]
    spam: bool


def _words(rng: random.Random, topic: str, count: int, noise: list[str]) -> str:
    vocabulary = topic.split()
    return " ".join(
        rng.choice(vocabulary) if rng.random() < 0.45 else rng.choice(noise) for _ in range(count)
    )


def _headers(
    rng: random.Random, sender: str, subject: str, n: int, *, date: bool, mid: bool
) -> str:
    lines = [f"From: {sender}", "To: alice@example.org", f"Subject: {subject}"]
    if date:
        lines.append("Date: Sun, 06 Dec 2026 10:00:00 +0000")
    if mid:
        lines.append(f"Message-ID: <{n}.{rng.randrange(10**9)}@{sender.rpartition('@')[2]}>")
    return "\r\n".join(lines) + "\r\n"


def ham(rng: random.Random, n: int) -> Sample:
    topic = rng.choice(list(HAM_TOPICS))
    words = HAM_TOPICS[topic]
    subject = _words(rng, words, 4, COMMON)
    body = _words(rng, words, rng.randrange(30, 120), COMMON)
    head = _headers(rng, f"friend{n % 40}@ham{n % 7}.test", subject, n,
                    date=True, mid=rng.random() > 0.05)  # fmt: skip
    if topic == "newsletter" and rng.random() < 0.5:
        links = "".join(f'<a href="https://news.test/{i}">article {i}</a> ' for i in range(3))
        html = f"<html><body><p>{body}</p>{links}</body></html>"
        raw = head + "Content-Type: text/html\r\n\r\n" + html + "\r\n"
    else:
        raw = head + "\r\n" + body + "\r\n"
    auth = {"spf": "softfail" if rng.random() < 0.05 else "pass", "dkim": "pass"}
    return Sample(raw.encode(), auth, False)


def spam(rng: random.Random, n: int) -> Sample:
    topic = rng.choice(list(SPAM_TOPICS))
    words = SPAM_TOPICS[topic]
    subject = _words(rng, words, 4, COMMON)
    if rng.random() < 0.2:  # encoded-ASCII subject
        subject = "=?utf-8?B?" + base64.b64encode(subject.encode()).decode() + "?="
    body = _words(rng, words, rng.randrange(20, 80), COMMON)
    careful = rng.random() < 0.4  # a sender that gets its headers right
    head = _headers(rng, f"promo{n}@spam{n % 13}.test", subject, n,
                    date=careful or rng.random() < 0.5, mid=careful)  # fmt: skip
    if topic == "phishing":
        html = f'<p>{body}</p><a href="http://evil{n % 5}.test/x">https://www.bank.test/login</a>'
        raw = head + "Content-Type: text/html\r\n\r\n" + html + "\r\n"
    elif topic == "advert" and not careful:
        links = "".join(f'<a href="http://shop{i}.test/">{w}</a> ' for i, w in enumerate("abcdef"))
        raw = head + "Content-Type: text/html\r\n\r\n" + f"<p>{body}</p>{links}\r\n"
    elif topic == "lottery" and rng.random() < 0.3:
        raw = (
            head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            "Content-Type: text/plain\r\n\r\n" + body + "\r\n--b\r\n"
            'Content-Type: application/octet-stream; name="claim_form.exe"\r\n\r\nMZ\r\n--b--\r\n'
        )
    else:
        raw = head + "\r\n" + body + "\r\n"
    auth = {"spf": "pass" if careful else rng.choice(["fail", "softfail", "none", "pass"])}
    if not careful and rng.random() < 0.3:
        auth["dmarc"] = "fail"
    return Sample(raw.encode(), auth, True)


def corpus(count: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    rng = random.Random(seed)
    samples = [ham(rng, n) if n % 2 else spam(rng, n) for n in range(count)]
    train = samples[: count // 2]
    test = samples[count // 2 :]
    return train, test


async def measure(scorer: BuiltinScorer, test: list[Sample], account: int, threshold: float):
    tp = fp = fn = 0
    times = []
    for sample in test:
        facts = ScanFacts("192.0.2.1", "mx.sender.test", "x@sender.test", ("alice@example.org",),
                          (account,), False, sample.auth)  # fmt: skip
        start = time.perf_counter()
        verdict = await scorer.check(sample.raw, facts)
        times.append(time.perf_counter() - start)
        flagged = verdict.score >= threshold
        tp += flagged and sample.spam
        fp += flagged and not sample.spam
        fn += not flagged and sample.spam
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, times


def report(name: str, precision: float, recall: float, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95)]
    print(
        f"{name:<22} precision {precision:.3f}  recall {recall:.3f}  "
        f"check: mean {statistics.mean(ms):.2f} ms, median {statistics.median(ms):.2f} ms, "
        f"p95 {p95:.2f} ms"
    )


async def main(count: int, seed: int) -> None:
    threshold = SpamConfig().file_threshold
    train, test = corpus(count, seed)
    spam_count = sum(s.spam for s in test)
    print(f"generated corpus: {len(train)} learnt, {len(test)} measured "
          f"({spam_count} spam, {len(test) - spam_count} ham), threshold {threshold}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.connect(f"sqlite:///{tmp}/bench.db")
        await store.accounts.add_domain("example.org")
        account = await store.accounts.add_account("alice@example.org", "h")
        scorer = BuiltinScorer(store.spam, SpamConfig().bayes_min_learnt)
        report("rules only", *await measure(scorer, test, account.id, threshold))
        start = time.perf_counter()
        for sample in train:
            await scorer.learn(account.id, sample.raw, spam=sample.spam)
        learn_ms = (time.perf_counter() - start) / len(train) * 1000
        report("rules + classifier", *await measure(scorer, test, account.id, threshold))
        print(f"learn: mean {learn_ms:.2f} ms per message (SQLite, one commit each)")
        await store.close()
    print(f"reproduce: .venv/bin/python bench/spam.py --messages {count} --seed {seed}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.seed))
