"""`postfach doctor` against postfach's own listeners: every failure, reproduced."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness import TestServer, make_server
from postfach.clientsetup import CheckOptions, CheckResult, Status, Step, Target, run_checks
from postfach.clientsetup.doctor import exit_status
from postfach.net.tls import make_self_signed
from support.cli import run_cli
from support.net import free_port

from .kit import NOW, PASSWORD, http_server, make_cert

ADDR = "ann@example.org"
FAST = CheckOptions(timeout=3.0, greeting_wait=0.4)


def targets(
    server: TestServer,
    host: str = "localhost",
    imap: tuple[str, str] = ("imaps", "SSL/TLS"),
    pop3: tuple[str, str] = ("pop3", "STARTTLS"),
    smtp: tuple[str, str] = ("submission", "STARTTLS"),
) -> list[Target]:
    return [
        Target("IMAP", host, server.port(imap[0]), imap[1]),
        Target("POP3", host, server.port(pop3[0]), pop3[1]),
        Target("SMTP", host, server.port(smtp[0]), smtp[1]),
    ]


def step(results: Sequence[CheckResult], protocol: str, which: Step) -> CheckResult:
    return next(r for r in results if r.protocol == protocol and r.step is which)


def steps(results: Sequence[CheckResult], protocol: str) -> list[Step]:
    return [r.step for r in results if r.protocol == protocol]


def never_shows_password(results: Sequence[CheckResult]) -> None:
    text = json.dumps([r.to_dict() for r in results])
    assert PASSWORD not in text


# -- a healthy server --------------------------------------------------------------------


async def test_everything_works_with_a_self_signed_warning(server: TestServer) -> None:
    await server.add_user(ADDR, PASSWORD)
    results = await run_checks(ADDR, PASSWORD, targets=targets(server), options=FAST)
    assert exit_status(results) == 0
    for protocol in ("IMAP", "POP3", "SMTP"):
        tls = step(results, protocol, Step.TLS)
        assert tls.status is Status.WARN and "self-signed" in tls.summary
        assert "real certificate" in tls.hint
        assert step(results, protocol, Step.LOGIN).status is Status.PASS
    assert steps(results, "SMTP") == [
        Step.RESOLVE,
        Step.CONNECT,
        Step.GREETING,
        Step.TLS,
        Step.CAPABILITIES,
        Step.LOGIN,
        Step.SEND_AS,
    ]
    assert step(results, "SMTP", Step.SEND_AS).summary == f"the server accepts {ADDR} as the sender"
    never_shows_password(results)


async def test_trusted_certificate_passes_every_step(server: TestServer, tmp_path: Path) -> None:
    await server.add_user(ADDR, PASSWORD)
    cafile = str(tmp_path / "data" / "tls" / "cert.pem")
    options = CheckOptions(timeout=3.0, greeting_wait=0.4, cafile=cafile)
    results = await run_checks(ADDR, PASSWORD, targets=targets(server), options=options)
    assert {r.status for r in results} == {Status.PASS}
    assert "valid until" in step(results, "IMAP", Step.TLS).summary


# -- logins ---------------------------------------------------------------------------------


async def test_wrong_password(server: TestServer) -> None:
    await server.add_user(ADDR, PASSWORD)
    results = await run_checks(ADDR, "not-the-password", targets=targets(server), options=FAST)
    assert exit_status(results) == 1
    imap = step(results, "IMAP", Step.LOGIN)
    assert imap.status is Status.FAIL and "wrong password" in imap.summary
    assert "AUTHENTICATIONFAILED" in imap.detail
    # IMAP logs in first; its refusal is not asked of SMTP and POP3 again (issue #14.4)
    for protocol in ("SMTP", "POP3"):
        login = step(results, protocol, Step.LOGIN)
        assert login.status is Status.FAIL and "wrong password" in login.summary
        assert login.detail.startswith("not tried: the password was refused over IMAP")
    assert Step.SEND_AS not in steps(results, "SMTP")


async def test_a_wrong_password_counts_once(
    server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue #14.4: three protocols probed, one failed login against the lock-out."""
    caplog.set_level(logging.INFO, logger="postfach.auth")
    await server.add_user(ADDR, PASSWORD)
    for _ in range(2):
        results = await run_checks(ADDR, "not-it", targets=targets(server), options=FAST)
        assert exit_status(results) == 1
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("auth ")]
    assert (
        failed == [f"auth failed: user=<{ADDR}> ip=<127.0.0.1> proto=imap reason=bad-password"] * 2
    )
    # Two runs, two failures: far from the lock-out, the right password works everywhere.
    results = await run_checks(ADDR, PASSWORD, targets=targets(server), options=FAST)
    assert exit_status(results) == 0


async def test_wrong_password_with_the_store_at_hand(server: TestServer) -> None:
    await server.add_user(ADDR, PASSWORD)
    results = await run_checks(
        ADDR, "bad", targets=targets(server), store=server.ctx.store, options=FAST
    )
    for protocol in ("IMAP", "POP3", "SMTP"):
        login = step(results, protocol, Step.LOGIN)
        assert login.summary == f"wrong password for {ADDR}"
        assert "postfach user passwd" in login.hint


async def test_no_such_account(server: TestServer) -> None:
    results = await run_checks(
        "nobody@example.org", "x", targets=targets(server), store=server.ctx.store, options=FAST
    )
    assert step(results, "IMAP", Step.LOGIN).summary == (
        "there is no account nobody@example.org on this server"
    )


async def test_pop3_switched_off_seen_from_outside(server: TestServer) -> None:
    """No store: the same password works over IMAP, so POP3 must be switched off."""
    await server.add_user(ADDR, PASSWORD, pop3_enabled=False)
    results = await run_checks(ADDR, PASSWORD, targets=targets(server), options=FAST)
    pop3 = step(results, "POP3", Step.LOGIN)
    assert pop3.status is Status.FAIL
    assert pop3.summary.startswith("POP3 is switched off for this account")
    assert "logs in over IMAP and SMTP" in pop3.summary
    assert pop3.detail == "-ERR [AUTH] login failure or POP3 disabled"
    assert "switch POP3 access on" in pop3.hint
    assert step(results, "IMAP", Step.LOGIN).status is Status.PASS
    assert exit_status(results) == 1


async def test_pop3_switched_off_with_the_store(server: TestServer) -> None:
    await server.add_user(ADDR, PASSWORD, pop3_enabled=False)
    only_pop3 = [t for t in targets(server) if t.protocol == "POP3"]
    results = await run_checks(
        ADDR, PASSWORD, targets=only_pop3, store=server.ctx.store, options=FAST
    )
    login = step(results, "POP3", Step.LOGIN)
    assert login.summary == "POP3 is switched off for this account"
    assert f"postfach user set {ADDR} pop3=on" in login.hint


async def test_imap_switched_off(server: TestServer) -> None:
    await server.add_user(ADDR, PASSWORD, imap_enabled=False)
    results = await run_checks(ADDR, PASSWORD, targets=targets(server), options=FAST)
    login = step(results, "IMAP", Step.LOGIN)
    assert login.summary == "IMAP is switched off for this account"
    assert "[UNAVAILABLE]" in login.detail


async def test_smtp_without_password_needs_authentication(server: TestServer) -> None:
    await server.add_user(ADDR, PASSWORD)
    results = await run_checks(ADDR, None, targets=targets(server), options=FAST)
    assert step(results, "IMAP", Step.LOGIN).status is Status.SKIP
    sender = step(results, "SMTP", Step.SEND_AS)
    assert sender.status is Status.FAIL
    assert sender.summary.startswith("authentication required")
    assert "530 5.7.0 Authentication required" in sender.detail
    assert "outgoing server requires authentication" in sender.hint


async def test_sender_not_owned(server: TestServer) -> None:
    await server.add_user(ADDR, PASSWORD)
    await server.add_user("bob@example.org", "other")
    smtp = Target("SMTP", "localhost", server.port("submission"), "STARTTLS", username=ADDR)
    results = await run_checks("bob@example.org", PASSWORD, targets=[smtp], options=FAST)
    assert step(results, "SMTP", Step.LOGIN).status is Status.PASS
    sender = step(results, "SMTP", Step.SEND_AS)
    assert sender.status is Status.FAIL
    assert "does not let this account send as bob@example.org" in sender.summary
    assert sender.detail.startswith("553 5.7.1 Sender address rejected: not owned by auth user")


# -- ports and security ----------------------------------------------------------------------


async def test_wrong_port_nothing_listening(server: TestServer) -> None:
    port = free_port()
    results = await run_checks(
        ADDR, PASSWORD, targets=[Target("IMAP", "127.0.0.1", port, "SSL/TLS")], options=FAST
    )
    connect = step(results, "IMAP", Step.CONNECT)
    assert connect.status is Status.FAIL
    assert f"the connection to port {port} of 127.0.0.1 was refused" in connect.summary
    assert "993 (SSL/TLS) or 143 (STARTTLS)" in connect.hint
    assert steps(results, "IMAP") == [Step.RESOLVE, Step.CONNECT]


@pytest.mark.parametrize(
    ("protocol", "listener", "greeting"),
    [("IMAP", "imap", "* OK"), ("POP3", "pop3", "+OK"), ("SMTP", "submission", "220")],
)
async def test_tls_spoken_to_a_plain_port(
    server: TestServer, protocol: str, listener: str, greeting: str
) -> None:
    target = Target(protocol, "localhost", server.port(listener), "SSL/TLS")
    results = await run_checks(ADDR, PASSWORD, targets=[target], options=FAST)
    tls = step(results, protocol, Step.TLS)
    assert tls.status is Status.FAIL
    assert f"port {target.port} speaks plain text, not SSL/TLS" in tls.summary
    assert greeting in tls.summary
    assert "set the security to STARTTLS" in tls.hint


@pytest.mark.parametrize(
    ("protocol", "listener"), [("IMAP", "imaps"), ("POP3", "pop3s"), ("SMTP", "submissions")]
)
async def test_plain_spoken_to_a_tls_port(server: TestServer, protocol: str, listener: str) -> None:
    target = Target(protocol, "localhost", server.port(listener), "STARTTLS")
    results = await run_checks(ADDR, PASSWORD, targets=[target], options=FAST)
    greeting = step(results, protocol, Step.GREETING)
    assert greeting.status is Status.FAIL
    assert f"port {target.port} expects SSL/TLS from the first byte" in greeting.summary
    assert greeting.hint == f"set the security to SSL/TLS for port {target.port}"


async def test_a_pop3_port_given_as_imap(server: TestServer) -> None:
    target = Target("IMAP", "localhost", server.port("pop3"), "STARTTLS")
    results = await run_checks(ADDR, PASSWORD, targets=[target], options=FAST)
    greeting = step(results, "IMAP", Step.GREETING)
    assert greeting.summary == f"port {target.port} answers like a POP3 server, not IMAP"


async def test_plaintext_connection_is_a_warning(server: TestServer) -> None:
    await server.add_user(ADDR, PASSWORD)
    target = Target("IMAP", "localhost", server.port("imap"), "none")
    results = await run_checks(ADDR, PASSWORD, targets=[target], options=FAST)
    tls = step(results, "IMAP", Step.TLS)
    assert tls.status is Status.WARN and "no encryption" in tls.summary
    assert step(results, "IMAP", Step.LOGIN).status is Status.PASS  # allow_plaintext in tests


async def test_plaintext_login_refused_without_tls(tmp_path: Path) -> None:
    async with make_server(tmp_path, auth={"allow_plaintext": False}) as srv:
        await srv.add_user(ADDR, PASSWORD)
        results = await run_checks(
            ADDR,
            PASSWORD,
            targets=targets(
                srv, imap=("imap", "none"), pop3=("pop3", "none"), smtp=("submission", "none")
            ),
            options=FAST,
        )
    for protocol in ("IMAP", "POP3", "SMTP"):
        login = step(results, protocol, Step.LOGIN)
        assert login.status is Status.FAIL, login
        assert "unencrypted" in login.summary
        assert "SSL/TLS or STARTTLS" in login.hint


async def test_silent_server_times_out_in_bounded_time() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # says nothing, until the client goes away
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    options = CheckOptions(timeout=0.5, greeting_wait=0.3)
    try:
        results = await asyncio.wait_for(
            run_checks(
                ADDR,
                PASSWORD,
                options=options,
                targets=[
                    Target("IMAP", "127.0.0.1", port, "STARTTLS"),
                    Target("POP3", "127.0.0.1", port, "SSL/TLS"),
                ],
            ),
            10,
        )
    finally:
        server.close()
    assert "sent no greeting within 0.3 s" in step(results, "IMAP", Step.GREETING).summary
    assert "no TLS connection" in step(results, "POP3", Step.TLS).summary


async def test_unknown_host_name() -> None:
    target = Target("IMAP", "no-such-host.invalid", 993, "SSL/TLS")
    results = await run_checks(ADDR, None, targets=[target], options=CheckOptions(timeout=2.0))
    resolve = step(results, "IMAP", Step.RESOLVE)
    assert resolve.status is Status.FAIL and "no-such-host.invalid" in resolve.summary


async def test_unknown_domain_without_targets() -> None:
    results = await run_checks("a@unknown-provider.example", None)
    assert len(results) == 1 and results[0].step is Step.SETUP
    assert results[0].status is Status.FAIL and "--imap HOST:PORT" in results[0].hint


# -- certificates --------------------------------------------------------------------------


async def test_certificate_for_another_host_name(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path / "other", ["other.example.net"])
    async with make_server(tmp_path, tls={"cert": str(cert), "key": str(key)}) as srv:
        await srv.add_user(ADDR, PASSWORD)
        results = await run_checks(ADDR, PASSWORD, targets=targets(srv), options=FAST)
    for protocol in ("IMAP", "POP3", "SMTP"):
        tls = step(results, protocol, Step.TLS)
        assert tls.status is Status.FAIL
        assert "another host name: it names other.example.net, not localhost" in tls.summary
        assert "other.example.net" in tls.hint
        # like a user who accepts the certificate, the login is still checked
        assert step(results, protocol, Step.LOGIN).status is Status.PASS
    assert exit_status(results) == 1


async def test_ip_address_not_in_certificate(tmp_path: Path) -> None:
    """A certificate that names mail.example.org and localhost, not 127.0.0.1 (postfach's
    own self-signed one names the loopback addresses too)."""
    cert, key = make_cert(tmp_path / "tls", ["mail.example.org", "localhost"])
    async with make_server(tmp_path, tls={"cert": str(cert), "key": str(key)}) as srv:
        target = Target("IMAP", "127.0.0.1", srv.port("imaps"), "SSL/TLS")
        results = await run_checks(ADDR, None, targets=[target], options=FAST)
    tls = step(results, "IMAP", Step.TLS)
    assert "not 127.0.0.1" in tls.summary and "self-signed" in tls.summary


async def test_own_self_signed_certificate_names_the_loopback_address(server: TestServer) -> None:
    target = Target("IMAP", "127.0.0.1", server.port("imaps"), "SSL/TLS")
    results = await run_checks(ADDR, None, targets=[target], options=FAST)
    tls = step(results, "IMAP", Step.TLS)
    assert "not 127.0.0.1" not in tls.summary and "self-signed" in tls.summary


async def test_expired_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    make_self_signed(cert, key, "localhost", not_before=NOW - datetime.timedelta(days=400), days=30)
    async with make_server(tmp_path, tls={"cert": str(cert), "key": str(key)}) as srv:
        await srv.add_user(ADDR, PASSWORD)
        results = await run_checks(ADDR, PASSWORD, targets=targets(srv), options=FAST)
        trusted = await run_checks(
            ADDR,
            PASSWORD,
            targets=targets(srv)[:1],
            options=CheckOptions(timeout=3.0, cafile=str(cert)),
        )
    tls = step(results, "IMAP", Step.TLS)
    assert tls.status is Status.FAIL
    assert "the certificate expired on" in tls.summary and "370 days ago" in tls.summary
    assert "self-signed" in tls.summary
    assert "renew" in tls.hint
    only = step(trusted, "IMAP", Step.TLS)
    assert only.summary.startswith("the certificate expired") and "self-signed" not in only.summary
    assert "certificate has expired" in only.detail  # OpenSSL's words


def _http_date(offset: datetime.timedelta) -> str:
    return email.utils.format_datetime(datetime.datetime.now(datetime.UTC) + offset, usegmt=True)


async def test_not_yet_valid_because_this_clock_is_behind(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    make_self_signed(cert, key, "localhost", not_before=NOW + datetime.timedelta(hours=3))
    async with make_server(tmp_path, tls={"cert": str(cert), "key": str(key)}) as srv:
        await srv.add_user(ADDR, PASSWORD)
        plain = await run_checks(ADDR, PASSWORD, targets=targets(srv)[:1], options=FAST)
        async with http_server(b"", date=_http_date(datetime.timedelta(hours=3, minutes=1))) as p:
            options = CheckOptions(timeout=3.0, http=("127.0.0.1", p))
            told = await run_checks(ADDR, PASSWORD, targets=targets(srv)[:1], options=options)
        async with http_server(b"", date=_http_date(datetime.timedelta(0))) as p:
            options = CheckOptions(timeout=3.0, http=("127.0.0.1", p))
            agree = await run_checks(ADDR, PASSWORD, targets=targets(srv)[:1], options=options)
    tls = step(plain, "IMAP", Step.TLS)
    assert tls.status is Status.FAIL
    assert "the certificate is not yet valid" in tls.summary and "3 hours from now" in tls.summary
    assert "check the date and time on this computer" in tls.hint
    behind = step(told, "IMAP", Step.TLS)
    assert "this computer's clock is 3 hours behind the server's" in behind.hint
    assert "set the correct date and time on this computer" in behind.hint
    assert "start date in the future" in step(agree, "IMAP", Step.TLS).hint


async def test_expired_because_this_clock_is_ahead(server: TestServer) -> None:
    """This computer thinks it is 20 years later; the server's Date says otherwise."""
    await server.add_user(ADDR, PASSWORD)
    future = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365 * 20)
    async with http_server(b"", date=_http_date(datetime.timedelta(0))) as p:
        options = CheckOptions(timeout=3.0, http=("127.0.0.1", p), now=lambda: future)
        results = await run_checks(ADDR, PASSWORD, targets=targets(server)[:1], options=options)
    tls = step(results, "IMAP", Step.TLS)
    assert "the certificate expired on" in tls.summary
    assert "this computer's clock is" in tls.hint and "ahead of the server's" in tls.hint


# -- the command -------------------------------------------------------------------------------


def _cli_targets(srv: TestServer) -> list[str]:
    return [
        "--imap",
        f"localhost:{srv.port('imaps')}/ssl",
        "--pop3",
        f"localhost:{srv.port('pop3')}/starttls",
        "--smtp",
        f"localhost:{srv.port('submission')}/starttls",
    ]


async def test_cli_doctor_exit_status_and_words(
    server: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POSTFACH_CONFIG", raising=False)
    await server.add_user(ADDR, PASSWORD)
    argv = ["doctor", ADDR, *_cli_targets(server), "--password-stdin", "--timeout", "3"]
    status, out = await run_cli(argv, stdin=PASSWORD + "\n")
    assert status == 0, out
    assert "WARN  encryption: the certificate is self-signed" in out
    assert "ok    login: logged in as ann@example.org" in out
    assert PASSWORD not in out

    status, out = await run_cli(argv + ["--json"], stdin="wrong-" + PASSWORD + "\n")
    assert status == 1
    data = json.loads(out)
    failed = [r for r in data if r["status"] == "fail"]
    assert {r["protocol"] for r in failed} == {"IMAP", "POP3", "SMTP"}
    assert all(r["step"] == "login" for r in failed)
    assert PASSWORD not in out

    cafile = str(tmp_path / "data" / "tls" / "cert.pem")
    status, out = await run_cli([*argv, "--cafile", cafile], stdin=PASSWORD + "\n")
    assert status == 0 and "WARN" not in out and "everything works" in out


async def test_cli_doctor_bad_target_is_a_one_line_error() -> None:
    status, out = await run_cli(["doctor", ADDR, "--imap", "localhost"])
    assert status == 1 and "expected HOST:PORT" in out
