"""The other side's folders mapped to ours: special uses first, then common names.

Pure: no I/O. A source folder marked \\Sent (RFC 6154 LIST attributes or
Gmail's XLIST) lands in the account's \\Sent folder whatever either side calls
it; unmarked folders with a well-known name ("Sent Items", "Deleted Messages",
"[Gmail]/Spam", ...) do too. Other folders keep their name, the hierarchy
separator turned into ours ("/").
"""

from __future__ import annotations

__all__ = ["DEFAULT_NAMES", "SKIPPED_USES", "special_use_of", "target_name"]

# Our name for a special folder the account does not have yet.
DEFAULT_NAMES = {
    "\\Sent": "Sent",
    "\\Drafts": "Drafts",
    "\\Junk": "Spam",
    "\\Trash": "Trash",
    "\\Archive": "Archive",
}

# XLIST's (Gmail's older) names for the RFC 6154 attributes.
_XLIST = {"\\spam": "\\Junk", "\\allmail": "\\All", "\\starred": "\\Flagged"}

# Views of mail kept elsewhere (Gmail's All Mail and Starred): copying them
# would copy every message twice. Named with --folders they are copied.
SKIPPED_USES = frozenset({"\\All", "\\Flagged"})

_COMMON_NAMES = {
    "\\Sent": {
        "sent",
        "sent items",
        "sent messages",
        "sent mail",
        "gesendet",
        "gesendete objekte",
        "gesendete elemente",
        "envoyés",
        "enviados",
    },
    "\\Drafts": {"drafts", "draft", "entwürfe", "brouillons", "borradores"},
    "\\Junk": {"junk", "spam", "junk e-mail", "junk email", "bulk mail", "junk mail"},
    "\\Trash": {
        "trash",
        "deleted items",
        "deleted messages",
        "bin",
        "papierkorb",
        "gelöschte elemente",
        "corbeille",
        "papelera",
    },
    "\\Archive": {"archive", "archives", "archiv"},
}


def special_use_of(name: str, delimiter: str | None, attributes: frozenset[str]) -> str | None:
    """The RFC 6154 use of a source folder: its attributes, else its (last) name."""
    for attribute in attributes:
        use = _XLIST.get(attribute.lower(), attribute)
        if use.lower() in {u.lower() for u in (*DEFAULT_NAMES, *SKIPPED_USES)}:
            return next(u for u in (*DEFAULT_NAMES, *SKIPPED_USES) if u.lower() == use.lower())
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    if name.upper() == "INBOX":
        return None
    parent = name[: -len(leaf)].rstrip(delimiter or "") if delimiter else ""
    if parent and parent.upper() not in {"INBOX", "[GMAIL]", "[GOOGLE MAIL]"}:
        return None  # "Projects/Sent" is a folder of its own
    for use, names in _COMMON_NAMES.items():
        if leaf.casefold() in names:
            return use
    return None


def target_name(name: str, delimiter: str | None) -> str:
    """Our folder name for an ordinary source folder: INBOX stays INBOX, a
    server-side "INBOX." prefix (Courier, some Dovecots) goes, "/" separates."""
    if name.upper() == "INBOX":
        return "INBOX"
    parts = name.split(delimiter) if delimiter else [name]
    if len(parts) > 1 and parts[0].upper() == "INBOX" and delimiter != "/":
        parts = parts[1:]
    parts = [part.replace("/", "_") for part in parts if part]
    return "/".join(parts) or "INBOX"
