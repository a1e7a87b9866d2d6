"""HTML mail made safe to show: an allow-list sanitiser (ammonia, through nh3).

What survives: formatting tags and attributes (tables, fonts, inline styles),
links (http, https, mailto; opened in a new tab without referrer), images from
`data:` and, only when the reader asks, from http(s). Scripts, event handlers,
forms, frames, objects, `javascript:` URLs and comments are removed. Remote
images are dropped (and counted, so the page can offer "show images") unless
`remote_images` is set; `cid:` images become data: URLs through `inline`;
remote loads in CSS (`style=` and `<style>`) are taken out and counted too.

The sanitised HTML is shown in a sandboxed iframe (no scripts, opaque origin)
under a Content-Security-Policy that blocks remote loads, so even a sanitiser
bug could neither run code nor fetch a tracking pixel.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import nh3

from postfach.web.cssguard import guard_css

__all__ = ["SanitizedHtml", "frame_document", "frame_policy", "sanitize_html"]

_EXTRA_TAGS = frozenset({"font", "style", "section", "main", "big", "address"})
_FORBIDDEN = frozenset({"script", "iframe", "object", "embed", "form", "input", "base", "meta"})
TAGS = (set(nh3.ALLOWED_TAGS) | _EXTRA_TAGS) - _FORBIDDEN
_COMMON_ATTRIBUTES = {
    "style", "class", "align", "valign", "dir", "lang", "title", "bgcolor", "width",
    "height", "border", "cellpadding", "cellspacing", "color", "face", "size", "background",
    "id", "name",
}  # fmt: skip
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": _COMMON_ATTRIBUTES,
}
URL_SCHEMES = {"http", "https", "mailto", "cid", "data"}
_STYLE_BLOCK = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.I | re.S)
_REMOTE = ("http:", "https:", "//")


@dataclass(frozen=True, slots=True)
class SanitizedHtml:
    html: str
    blocked_images: int  # remote images left out because the reader did not ask


def sanitize_html(
    html: str,
    *,
    remote_images: bool = False,
    inline: Callable[[str], str | None] = lambda _cid: None,
) -> SanitizedHtml:
    blocked = 0

    def check(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if tag not in TAGS:
            return None
        lowered = value.strip().lower()
        if attribute in {"src", "background"}:
            if lowered.startswith("cid:"):
                return inline(value.strip()[4:])
            if lowered.startswith("data:"):
                return value if lowered.startswith("data:image/") else None
            if lowered.startswith(_REMOTE) and not remote_images:
                blocked += 1
                return None
            return value if lowered.startswith(_REMOTE) else None
        if attribute == "href" and lowered.startswith(("data:", "cid:")):
            return None
        if attribute == "style":
            guarded = guard_css(value, remote_images=remote_images)
            blocked += guarded.blocked
            return guarded.css
        return value

    def guard_block(match: re.Match[str]) -> str:
        nonlocal blocked
        guarded = guard_css(match.group(2), remote_images=remote_images)
        blocked += guarded.blocked
        return match.group(1) + guarded.css + match.group(3)

    cleaned = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "title", "head"} - TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=check,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    # A <style> element's text is raw in the serialised HTML (it cannot hold
    # "</style"), so its CSS is found and guarded here, after the cleaning.
    cleaned = _STYLE_BLOCK.sub(guard_block, cleaned)
    return SanitizedHtml(cleaned, blocked)


def frame_policy(remote_images: bool) -> str:
    """The Content-Security-Policy of the document inside the mail iframe."""
    images = "data: http: https:" if remote_images else "data:"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; "
        "font-src data:; base-uri 'none'; form-action 'none'"
    )


def frame_document(body: str, remote_images: bool) -> str:
    """A whole document for the iframe's srcdoc, with its own policy as well."""
    policy = frame_policy(remote_images)
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        "<style>body{font-family:sans-serif;margin:8px;word-wrap:break-word}"
        "img{max-width:100%;height:auto}</style></head><body>"
        f"{body}</body></html>"
    )
