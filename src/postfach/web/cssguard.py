"""Remote loads taken out of the CSS in a mail: `<style>` blocks and `style=`.

The mail frame's Content-Security-Policy already stops every remote load, but
the reader is told how many remote images were held back, so they are found
and counted here rather than left for the policy to stop silently. CSS hides a
URL in more places than `url()`: escapes (`u\\72l(`), comments, `image-set()`
with bare strings, `@import "…"`. The text is first brought to the form the
browser's tokenizer sees (escapes resolved, comments gone), then each function
that loads something is replaced by `none` unless the reader allowed remote
images; `@import` goes always (a style sheet, never an image the reader asked for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GuardedCss", "guard_css"]

_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\f]?|(.))", re.S)
_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.S)
# CSS functions whose argument is a URL or an image that may be one.
_LOADING = re.compile(
    r"(?<![\w-])(url|src|image|image-set|-webkit-image-set|cross-fade|-webkit-cross-fade)\s*\(",
    re.I,
)
_IMPORT = re.compile(r"@import\b[^;{}]*(;|(?=[{}])|\Z)", re.I)
_REMOTE = re.compile(r"(?<![\w+.-])(?:https?:|//)", re.I)
_INLINE_DATA = re.compile(r"""\s*(?:url\s*\(\s*)?["']?\s*data:image/""", re.I)


@dataclass(frozen=True, slots=True)
class GuardedCss:
    css: str
    blocked: int  # remote loads taken out


def _unescape(css: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        char = match.group(2)
        return "" if char == "\n" else char  # an escaped newline continues a string

    return _ESCAPE.sub(replace, css)


def _closing(css: str, start: int) -> int:
    """Index just past the `)` that closes the function opened before `start`,
    skipping quoted strings and nested parentheses; the end if unclosed."""
    depth, index, quote = 1, start, ""
    while index < len(css):
        char = css[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(css)


def guard_css(css: str, *, remote_images: bool) -> GuardedCss:
    """CSS with nothing left that would load from elsewhere (unless allowed),
    and how many remote loads were taken out. Untouched CSS comes back as given."""
    if "\\" not in css and "/*" not in css and not _LOADING.search(css) and "@" not in css:
        return GuardedCss(css, 0)
    plain = _COMMENT.sub(" ", _unescape(css))
    blocked = 0
    pieces: list[str] = []
    position = 0
    changed = plain != css
    for match in _LOADING.finditer(plain):
        if match.start() < position:
            continue  # inside a function already replaced
        end = _closing(plain, match.end())
        call = plain[match.start() : end]
        remote = bool(_REMOTE.search(call))
        if _INLINE_DATA.match(plain, match.end()) and not remote:
            continue
        if remote and remote_images:
            continue
        blocked += remote
        pieces.append(plain[position : match.start()])
        pieces.append("none")
        position = end
        changed = True
    pieces.append(plain[position:])
    guarded = "".join(pieces)
    imports = [m.group(0) for m in _IMPORT.finditer(guarded)]
    if imports:
        guarded = _IMPORT.sub("", guarded)
        changed = True
        if not remote_images:  # a url() in one was counted above and is `none` by now
            blocked += sum(1 for rule in imports if _REMOTE.search(rule))
    return GuardedCss(guarded if changed else css, blocked)
