"""The sans-IO SASL exchange (auth/sasl.py) that SMTP, IMAP and POP3 all drive:
every input ends in a defined step, never an exception."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from postfach.auth.sasl import (
    Challenge,
    Credentials,
    Failure,
    FailureKind,
    SaslExchange,
    Step,
)


def b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


def test_plain_with_initial_response() -> None:
    step = SaslExchange("plain").start(b64(b"admin\x00bob\x00p\xc3\xa4"))
    assert step == Credentials("admin", "bob", "pä")


def test_plain_challenged() -> None:
    exchange = SaslExchange("PLAIN")
    assert exchange.start() == Challenge(b"")
    assert exchange.start().encoded == b""
    assert exchange.respond(b64(b"\x00bob\x00pw")) == Credentials("", "bob", "pw")


def test_login_asks_username_then_password() -> None:
    exchange = SaslExchange("LOGIN")
    first = exchange.start()
    assert first == Challenge(b"Username:") and first.encoded == b"VXNlcm5hbWU6"
    second = exchange.respond(b64(b"bob"))
    assert second == Challenge(b"Password:") and second.encoded == b"UGFzc3dvcmQ6"
    assert exchange.respond(b64(b"pw")) == Credentials("", "bob", "pw")


def test_login_initial_response_is_the_username() -> None:
    exchange = SaslExchange("LOGIN")
    assert exchange.start(b64(b"bob")) == Challenge(b"Password:")
    assert exchange.respond(b"") == Credentials("", "bob", "")


def test_failures_have_kinds() -> None:
    assert SaslExchange("CRAM-MD5").start() == Failure(FailureKind.UNSUPPORTED)
    assert SaslExchange("PLAIN").start(b"!!!") == Failure(FailureKind.BAD_BASE64)
    assert SaslExchange("PLAIN").start(b" " + b64(b"\x00a\x00b")) == Failure(
        FailureKind.BAD_BASE64
    )  # blanks are the protocol's to drop
    assert SaslExchange("LOGIN").start(b64(b"\xff")) == Failure(FailureKind.MALFORMED)
    for layout in (b"bob\x00pw", b"\x00\x00pw", b"a\x00b\x00c\x00d", b""):
        assert SaslExchange("PLAIN").start(b64(layout)) == Failure(FailureKind.MALFORMED)
    exchange = SaslExchange("LOGIN")
    exchange.start()
    assert exchange.respond(b"*") == Failure(FailureKind.CANCELLED)


def test_initial_star_is_not_a_cancel() -> None:
    """RFC 4422 §3.5: "*" cancels in answer to a challenge, not as an initial response."""
    assert SaslExchange("PLAIN").start(b"*") == Failure(FailureKind.BAD_BASE64)


def test_nothing_is_expected_after_the_end() -> None:
    exchange = SaslExchange("PLAIN")
    assert isinstance(exchange.start(b64(b"\x00bob\x00pw")), Credentials)
    assert exchange.respond(b64(b"\x00bob\x00pw")) == Failure(FailureKind.MALFORMED)


def test_password_is_not_in_repr() -> None:
    assert "secret" not in repr(Credentials("", "bob", "secret"))


def _is_step(step: Step) -> bool:
    return isinstance(step, Challenge | Credentials | Failure)


@given(
    mechanism=st.sampled_from(["PLAIN", "LOGIN", "plain", "CRAM-MD5", ""]),
    initial=st.none() | st.binary(max_size=64),
    responses=st.lists(st.binary(max_size=64), max_size=4),
)
def test_arbitrary_bytes_end_in_a_defined_step(
    mechanism: str, initial: bytes | None, responses: list[bytes]
) -> None:
    exchange = SaslExchange(mechanism)
    step = exchange.start(initial)
    assert _is_step(step)
    for response in responses:
        ended = not isinstance(step, Challenge)
        step = exchange.respond(response)
        assert _is_step(step)
        if ended:
            assert step == Failure(FailureKind.MALFORMED)


@given(
    authzid=st.text().filter(lambda t: "\x00" not in t),
    authcid=st.text(min_size=1).filter(lambda t: "\x00" not in t),
    password=st.text().filter(lambda t: "\x00" not in t),
)
def test_plain_round_trips_any_text(authzid: str, authcid: str, password: str) -> None:
    raw = f"{authzid}\x00{authcid}\x00{password}".encode()
    assert SaslExchange("PLAIN").start(b64(raw)) == Credentials(authzid, authcid, password)


@given(user=st.text(), password=st.text())
def test_login_round_trips_any_text(user: str, password: str) -> None:
    exchange = SaslExchange("LOGIN")
    assert exchange.start() == Challenge(b"Username:")
    assert exchange.respond(b64(user.encode())) == Challenge(b"Password:")
    assert exchange.respond(b64(password.encode())) == Credentials("", user, password)


@given(data=st.binary(max_size=64))
def test_non_base64_is_bad_base64(data: bytes) -> None:
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        assert SaslExchange("LOGIN").start(data) == Failure(FailureKind.BAD_BASE64)
