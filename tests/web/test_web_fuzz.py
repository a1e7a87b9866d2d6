"""Hypothesis over what the web listener parses: HTML mail for the sanitiser,
part numbers, autodiscover bodies and admin API bodies."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfach.web.cssguard import guard_css
from postfach.web.mailview import parse_part
from postfach.web.sanitize import sanitize_html

FRAGMENTS = [
    "<script>", "</script>", "<img src=", "onerror=", "alert(1)", "javascript:", "<a href=",
    "<svg", "<math>", "<style>", "</style>", "<iframe", "<object", "<embed", "<form", "<base",
    "<meta http-equiv=refresh", "<!--", "-->", "<![CDATA[", '"', "'", ">", "<", "=", " ",
    "&#106;avascript:", "java\tscript:", "data:text/html,", "https://t.example/x.gif",
    "url(https://t.example/y)", "style=", "<p", "<table>", "<td background=", "<noscript>",
    "<template>", "<textarea>", "<title>", "<xmp>", "</", "\x00", "srcdoc=", "formaction=",
]  # fmt: skip
_FORBIDDEN = {"script", "iframe", "object", "embed", "form", "base", "meta", "input", "textarea"}


class _Elements(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=40).map("".join))
def test_sanitised_html_has_no_active_content(html):
    for remote in (False, True):
        for tag, attrs in elements(sanitize_html(html, remote_images=remote).html):
            assert tag not in _FORBIDDEN, tag
            for name, value in attrs:
                value = re.sub(r"\s", "", (value or "").lower())
                assert not name.startswith("on"), name
                assert not value.startswith(("javascript:", "vbscript:", "data:text")), value
                if not remote and name in {"src", "background", "style"}:
                    assert "t.example" not in value, value


CSS_FRAGMENTS = [
    "url(", ")", "image-set(", "-webkit-image-set(", "@import ", ";", "{", "}", "\\", "\\75",
    "\\72 ", "/*", "*/", '"', "'", "https://t.example/x", "//t.example/y", "data:image/png,x",
    "u", "rl(", " ", "\n", "background:", "src(", "image(", "cross-fade(", "(", ":",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(CSS_FRAGMENTS) | st.text(max_size=6), max_size=30).map("".join))
def test_guarded_css_loads_nothing_remote(css):
    """Whatever the CSS, once guarded nothing remote is left to find: guarding
    it again takes nothing out; allowing remote images never counts any."""
    guarded = guard_css(css, remote_images=False)
    assert guard_css(guarded.css, remote_images=False).blocked == 0
    assert guard_css(css, remote_images=True).blocked == 0


@given(st.text(max_size=30))
def test_part_numbers_parse_or_are_refused(text):
    number = parse_part(text)
    assert number is None or all(isinstance(n, int) and n >= 0 for n in number)


async def test_autodiscover_survives_any_body(web):
    @settings(max_examples=40, deadline=None)
    @given(st.binary(max_size=400) | st.sampled_from([b"<EMailAddress>", b"<EMailAddress>a@b</"]))
    def bodies(body):
        collected.append(body)

    collected: list[bytes] = []
    bodies()
    for body in collected:
        response = await web.client.post("/autodiscover/autodiscover.xml", content=body)
        assert response.status_code == 200
        assert b"<Autodiscover" in response.content


async def test_admin_api_survives_any_body(web):
    await web.ctx.store.web.add_admin_token("fuzz", "pfat_fuzz")
    web.client.headers["authorization"] = "Bearer pfat_fuzz"
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=8,
    )
    names = st.sampled_from(["imap_enabled", "pop3_folders", "pop3_delete", "quota_bytes", "x"])

    @settings(max_examples=40, deadline=None)
    @given(st.dictionaries(names, json_values, max_size=4) | json_values)
    def bodies(body):
        collected.append(body)

    collected: list[object] = []
    bodies()
    for body in collected:
        for method, path in (
            ("PATCH", "/api/v1/accounts/alice@example.org"),
            ("POST", "/api/v1/accounts"),
            ("POST", "/api/v1/aliases"),
        ):
            response = await web.client.request(method, path, json=body)
            assert response.status_code in (200, 201, 409, 422), (path, body, response.text)
