"""The built-in rules: pure functions from what is known of a message to points.

Each rule returns a list of `Hit`s (empty when it does not fire). Names and
points follow SpamAssassin's spirit: one point is a hint, five together make
spam (`spam.file_threshold` defaults to 5). The classifier's points come from
`bayes_hit`.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from postfach.spam.content import Content, decode_words

__all__ = [
    "EXECUTABLE_EXTENSIONS",
    "RULES",
    "Hit",
    "auth_hits",
    "bayes_hit",
    "early_talker_hits",
    "encoded_word_hits",
    "executable_hits",
    "html_link_hits",
    "link_mismatch_hits",
    "missing_header_hits",
]

MANY_LINKS = 5  # an HTML-only message with this many links is likely an advert

EXECUTABLE_EXTENSIONS = frozenset(
    "exe scr com pif bat cmd vbs vbe js jse wsf wsh hta msi msp cpl jar ps1 lnk reg iso img".split()
)

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Link text that looks like a host or URL: "www.bank.test", "https://bank.test/login".
_HOSTLIKE = re.compile(r"^(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:[:/]\S*)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Hit:
    name: str
    points: float

    def symbol(self) -> str:
        """As X-Spam-Status lists it: `NAME(points)`."""
        return f"{self.name}({self.points:.1f})"


def missing_header_hits(content: Content) -> list[Hit]:
    """RFC 5322 §3.6: Date is required; Message-ID is expected of every sender."""
    hits = []
    if not content.header("date").strip():
        hits.append(Hit("MISSING_DATE", 1.0))
    if not content.header("message-id").strip():
        hits.append(Hit("MISSING_MID", 1.0))
    return hits


def html_link_hits(content: Content) -> list[Hit]:
    """HTML and no plain-text alternative, with many links: how adverts come."""
    if content.html and not any(text.strip() for text in content.plain):
        if len(content.links) >= MANY_LINKS:
            return [Hit("HTML_ONLY_MANY_LINKS", 2.0)]
        return [Hit("HTML_ONLY", 0.5)]
    return []


def executable_hits(content: Content) -> list[Hit]:
    """A program as attachment: the usual way malware arrives."""
    for name in content.filenames:
        extension = name.rstrip(". ").rpartition(".")[2].lower()
        if "." in name and extension in EXECUTABLE_EXTENSIONS:
            return [Hit("EXECUTABLE_ATTACHMENT", 4.0)]
    return []


def encoded_word_hits(content: Content) -> list[Hit]:
    """Encoded-words used to hide, not to carry non-ASCII text: plain ASCII
    encoded (to slip past word filters), or a From name that decodes to an
    address other than the sender's (to show a trusted one)."""
    hits = []
    for name in ("subject", "from"):
        raw = content.header(name)
        words = _ENCODED_WORD.findall(raw)
        if words and all(_is_plain_ascii(decode_words(w)) for w in words):
            hits.append(Hit(f"{name.upper()}_ENCODED_ASCII", 1.0))
    raw_from = content.header("from")
    if _ENCODED_WORD.search(raw_from):
        shown = decode_words(raw_from)
        real = _real_address(raw_from)
        named = {a.lower() for a in _ADDRESS.findall(shown)} - {real}
        if real and named:
            hits.append(Hit("FROM_NAME_SPOOFS_ADDRESS", 2.5))
    return hits


def _is_plain_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _real_address(raw_from: str) -> str:
    """The address in angle brackets (or the whole value), lower-cased."""
    start, end = raw_from.rfind("<"), raw_from.rfind(">")
    inner = raw_from[start + 1 : end] if 0 <= start < end else raw_from
    match = _ADDRESS.search(inner)
    return match.group(0).lower() if match else ""


def link_mismatch_hits(content: Content) -> list[Hit]:
    """A link whose text names a host other than where it leads (phishing)."""
    for link in content.links:
        shown = _HOSTLIKE.match(link.text.strip())
        target = _host_of(link.href)
        if shown is None or not target:
            continue
        if not _same_site(shown.group(1).lower().rstrip("."), target):
            return [Hit("LINK_TEXT_OTHER_HOST", 2.5)]
    return []


def _host_of(href: str) -> str:
    try:
        parsed = urllib.parse.urlsplit(href.strip())
        host = parsed.hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".") if parsed.scheme in ("http", "https") else ""


def _same_site(shown: str, target: str) -> bool:
    """www.bank.test and bank.test are one site; one host under the other too."""
    a, b = shown.removeprefix("www."), target.removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


# Points by method and result of the sender checks (Authentication-Results).
_AUTH_POINTS: dict[tuple[str, str], float] = {
    ("spf", "fail"): 2.0,
    ("spf", "softfail"): 1.0,
    ("spf", "permerror"): 0.5,
    ("dkim", "fail"): 2.0,
    ("dkim", "permerror"): 0.5,
    ("dmarc", "fail"): 3.5,
    ("arc", "fail"): 1.0,
    ("dkim", "pass"): -0.1,
    ("dmarc", "pass"): -0.5,
}


def auth_hits(results: Mapping[str, str]) -> list[Hit]:
    """`{"spf": "fail", "dkim": "none", "dmarc": "fail"}` -> SPF_FAIL, DMARC_FAIL."""
    hits = []
    for method, result in results.items():
        key = (method.lower(), result.lower())
        if key in _AUTH_POINTS:
            hits.append(Hit(f"{key[0]}_{key[1]}".upper(), _AUTH_POINTS[key]))
    return hits


def early_talker_hits(early: bool) -> list[Hit]:
    """Spoke before the greeting: spam engines do, mail servers wait (RFC 5321 §4.3.1)."""
    return [Hit("EARLY_TALKER", 3.0)] if early else []


# (lowest probability, name, points), highest band first, as SpamAssassin's BAYES_nn.
_BAYES_BANDS: tuple[tuple[float, str, float], ...] = (
    (0.99, "BAYES_99", 3.5),
    (0.95, "BAYES_95", 3.0),
    (0.80, "BAYES_80", 2.0),
    (0.60, "BAYES_60", 1.5),
    (0.40, "BAYES_50", 0.8),
    (0.20, "BAYES_20", -0.1),
    (0.05, "BAYES_05", -0.5),
    (0.00, "BAYES_00", -1.9),
)


def bayes_hit(probability: float | None) -> list[Hit]:
    """The classifier's verdict as points; None (nothing learnt yet) adds none."""
    if probability is None:
        return []
    for lowest, name, points in _BAYES_BANDS:
        if probability >= lowest:
            return [Hit(name, points)]
    return []


# The rules that read only the content, in the order X-Spam-Status lists them.
RULES: tuple[Callable[[Content], list[Hit]], ...] = (
    missing_header_hits,
    html_link_hits,
    executable_hits,
    encoded_word_hits,
    link_mismatch_hits,
)
