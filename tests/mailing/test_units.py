"""The pure pieces: CSV contacts, relay settings, vault, tokens, templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postfach.mailing.compose import CampaignTemplates, ComposeError, check_templates
from postfach.mailing.contacts import parse_csv
from postfach.mailing.relays import RelayConfigError, RelaySettings
from postfach.mailing.sender import Sender
from postfach.mailing.tokens import find_tokens, message_id, return_path
from postfach.mailing.vault import Vault, VaultError
from postfach.store.mailing import Campaign, new_token


def test_csv_reports_bad_rows_with_line_numbers_and_merges_duplicates():
    parsed = parse_csv(
        "\ufeffName,E-Mail,Plan\n"
        "Ann,ann@example.com,gold\n"
        "\n"
        "Bob,bob@,silver\n"
        '"Multi\nline",carl@example.com,\n'
        "Dup,ANN@example.com,platinum\n"
        "short\n"
    )
    assert parsed.columns == ["Name", "E-Mail", "Plan"]
    assert [r[0] for r in parsed.rows] == ["ann@example.com", "carl@example.com", "ANN@example.com"]
    assert parsed.rows[1][1] == {"Name": "Multi\nline", "Plan": ""}
    assert [line for line, _ in parsed.errors] == [4, 8]
    assert "bob@" in parsed.errors[0][1]


def test_csv_semicolons_and_empty_file():
    parsed = parse_csv("email;name\na@b.example;A\n")
    assert parsed.rows == [("a@b.example", {"name": "A"})]
    assert parse_csv("").errors == [(1, "the file is empty")]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_csv_never_raises(text: str):
    parsed = parse_csv(text)
    assert all(isinstance(line, int) for line, _ in parsed.errors)


def test_relay_settings_checks():
    base = RelaySettings(name="r", kind="external", sender_address="n@x.example", host="h")
    assert base.checked(True).port == 587
    assert RelaySettings(**{**_fields(base), "security": "SSL/TLS"}).checked(True).port == 465
    with pytest.raises(RelayConfigError, match="port 25 is forbidden"):
        RelaySettings(**{**_fields(base), "port": 25}).checked(True)
    assert RelaySettings(**{**_fields(base), "port": 25}).checked(False).port == 25
    with pytest.raises(RelayConfigError, match="sender address"):
        RelaySettings(**{**_fields(base), "sender_address": "nope"}).checked(True)
    with pytest.raises(RelayConfigError, match="needs a host"):
        RelaySettings(**{**_fields(base), "host": ""}).checked(True)
    internal = RelaySettings(name="me", kind="internal", sender_address="n@x.example")
    assert internal.checked(True).port == 0
    assert "password" not in repr(base) or "password=''" in repr(base)


def _fields(settings_: RelaySettings) -> dict[str, object]:
    return {f: getattr(settings_, f) for f in settings_.__dataclass_fields__}


def test_vault_round_trip_and_wrong_key(tmp_path: Path):
    vault = Vault.for_data_dir(tmp_path)
    sealed = vault.encrypt("hunter2")
    assert "hunter2" not in sealed and vault.decrypt(sealed) == "hunter2"
    assert (tmp_path / "mailing.key").stat().st_mode & 0o777 == 0o600
    other = Vault.for_data_dir(tmp_path / "other")
    with pytest.raises(VaultError, match="cannot be decrypted"):
        other.decrypt(sealed)
    assert vault.encrypt("") == "" and vault.decrypt("") == ""


def test_tokens_in_verp_and_message_id():
    token = new_token()
    assert len(token) == 24
    verp = return_path("news+x@relay.example", 12, token)
    assert verp == f"news+x+pf-12-{token}@relay.example"
    assert find_tokens(f"To: <{verp}>, {message_id('a@b.example', 12, token)}") == [token]
    assert find_tokens("pf-12-" + token + "a") == []


def campaign(**values: object) -> Campaign:
    base: dict[str, object] = {
        "id": 3, "name": "c", "list_id": 1, "subject": "Hi {{ name }}",
        "text_body": "Text {{ name }}", "html_body": "<p>{{ name }}</p>",
        "from_name": "", "from_address": "", "state": "draft",
    }  # fmt: skip
    base.update(values)
    return Campaign(**base)  # type: ignore[arg-type]


def test_templates_are_sandboxed_and_html_is_escaped():
    import email
    import email.policy

    t = CampaignTemplates(campaign(), [("a.txt", "text/plain", b"x" * 100)], "https://h")
    raw = t.render(Sender("Shop Ü", "s@x.example"), "r@x.example", "t@y.example", "tok", {
        "name": "<b>Ann & Co</b>",
    }).data  # fmt: skip
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Hi <b>Ann & Co</b>"
    assert msg.get_body(("html",)).get_content().strip() == "<p>&lt;b&gt;Ann &amp; Co&lt;/b&gt;</p>"
    assert msg.get_body(("plain",)).get_content() == "Text <b>Ann & Co</b>"
    assert [p.get_filename() for p in msg.iter_attachments()] == ["a.txt"]
    assert str(msg["From"]) == "Shop Ü <s@x.example>"
    evil = CampaignTemplates(campaign(subject="{{ ''.__class__.__mro__ }}"), [], "https://h")
    with pytest.raises(ComposeError, match="template error"):
        evil.render(Sender("", "s@x.example"), "r@x.example", "t@y.example", "tok", {})
    with pytest.raises(ComposeError, match="subject"):
        check_templates("{{ broken", "", "")


def test_rendered_messages_have_crlf_lines_only_and_no_injected_headers():
    import email
    import email.policy

    t = CampaignTemplates(
        campaign(text_body="a\nb\rc\r\n{{ name }}\n", html_body=""),
        [('evil"\r\nX-Injected: 1.txt', "text/plain\r\nX-Injected: 2", b"x")],
        "https://h/\r\nX-Injected: 3",
    )
    raw = t.render(
        Sender("Shop\r\nX-Injected: 4", "s@x.example"), "r@x.example", "t@y.example", "tok",
        {"name": "N\r\nX-Injected: 5"},
    ).data  # fmt: skip
    assert raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert all(part["X-Injected"] is None for part in msg.walk())
    assert msg["From"].addresses[0].display_name == "Shop X-Injected: 4"
    body = msg.get_body(("plain",)).get_content()
    assert body == "a\r\nb\r\nc\r\nN\r\nX-Injected: 5\r\n"
    with pytest.raises(ComposeError):
        t.render(Sender("", "s@x.example"), "r@x.example", "t@y.example\r\nBcc: v@z", "tok", {})


def test_plain_substitutions_render_exactly_as_jinja():
    from jinja2.sandbox import SandboxedEnvironment

    from postfach.mailing.templates import Substitution, compile_template

    variables = {"name": '<Ann & "Bob">', "email": "a@b", "none": None, "n": 3}
    sources = [
        "", "plain", "Hi {{ name }}!\r\n", "{{name}}{{ email }}\n\n", "{{ missing }}x",
        "{% raw %}{{ name }}{% endraw %} {{ name }}", "a {{- name -}} b", "{# c #}{{ n }}",
        "{{ none }}", "{{ range }}", "{{ name|upper }}", "{% if n %}{{ n }}{% endif %}",
    ]  # fmt: skip
    for autoescape in (False, True):
        env = SandboxedEnvironment(autoescape=autoescape, keep_trailing_newline=True)
        for source in sources:
            compiled = compile_template(env, source)
            assert compiled.render(variables) == env.from_string(source).render(variables)
            slow = ("none", "range", "|", "{% if")  # a constant, a global, a filter, a tag
            assert isinstance(compiled, Substitution) == (not any(w in source for w in slow))
