"""One server, tried step by step the way a mail program does it (R29).

Name resolution → TCP connection → TLS (implicit, or STARTTLS after the
greeting) → greeting → capabilities → login → (SMTP) MAIL FROM. Each step adds
one `CheckResult`; a failed step ends the run, except a certificate problem:
like a user who accepts the certificate once, the probe goes on without
verification so the login can still be diagnosed. Every wait has a timeout.

The probes of one run take turns to log in (`LoginTurns`), IMAP first: once a
server refused the password itself, the others are not sent it again, so one
run with a wrong password counts as one failed login against the server's
lock-out, not one per protocol.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import socket
import ssl

from postfach.clientsetup import dialogs
from postfach.clientsetup.certs import CertFacts, read_certificate
from postfach.clientsetup.checks import (
    CheckOptions,
    CheckResult,
    Status,
    Step,
    Target,
    usual_port,
    usual_ports,
)
from postfach.clientsetup.clock import find_date
from postfach.clientsetup.conn import ConnectionClosed, LineConn, ProtocolTrouble, client_context
from postfach.clientsetup.dialogs import Caps, Reply, Verdict
from postfach.clientsetup.login_words import dns_words, login_result, no_login_words, send_as_result
from postfach.clientsetup.loginturns import LoginTurns
from postfach.clientsetup.tlscheck import chain_trusted, tls_check

__all__ = ["Probe"]

ClockSample = tuple[datetime.datetime, datetime.datetime]  # (server said, we read it at)
IO_ERRORS = (TimeoutError, OSError, ProtocolTrouble, ssl.SSLError, EOFError)


class StopProbe(Exception):
    """A step failed; its result is recorded and the run ends."""


class Probe:
    def __init__(
        self,
        target: Target,
        address: str,
        password: str | None,
        options: CheckOptions,
        turns: LoginTurns | None = None,
    ) -> None:
        self.target = target
        self.address = address
        self.password = password
        self.options = options
        self.dialog = dialogs.DIALOGS[target.protocol]()
        self.results: list[CheckResult] = []
        self.verdict: Verdict | None = None
        self.login_text = ""
        self.clock_samples: list[ClockSample] = []
        self.cert: tuple[CertFacts, bool] | None = None  # facts, chain trusted
        self._ip = ""
        self.conn: LineConn | None = None  # the connection in use; closed at the end
        self.greeted = False  # only then is a QUIT/LOGOUT worth sending
        self.turns = turns or LoginTurns()
        self._place, self._login_over = self.turns.join(target.protocol)

    # -- recording -----------------------------------------------------------------

    def scrub(self, text: str) -> str:
        if not self.password:
            return text
        user = self.target.username or self.address
        plain = base64.b64encode(f"\0{user}\0{self.password}".encode()).decode()
        return text.replace(plain, "***").replace(self.password, "***")

    def add(
        self, step: Step, status: Status, summary: str, hint: str = "", detail: str = ""
    ) -> None:
        self.results.append(
            CheckResult(
                self.target.protocol,
                step,
                status,
                self.scrub(summary),
                self.scrub(hint),
                self.scrub(detail)[:500],
                self.target.label,
            )
        )

    def fail(self, step: Step, summary: str, hint: str = "", detail: str = "") -> StopProbe:
        self.add(step, Status.FAIL, summary, hint, detail)
        return StopProbe(summary)

    def io_failure(self, step: Step, exc: BaseException) -> StopProbe:
        t = self.target
        if isinstance(exc, TimeoutError):
            return self.fail(
                step,
                f"the server did not answer within {self.options.timeout:g} s",
                "the server may be overloaded, or a firewall is in the way",
            )
        if isinstance(exc, ConnectionClosed | ConnectionResetError | EOFError):
            return self.fail(
                step,
                "the server closed the connection",
                f"check that port {t.port} is really {t.protocol} with {t.security}",
            )
        return self.fail(step, f"the connection failed: {exc}", "", type(exc).__name__)

    # -- the run ---------------------------------------------------------------------

    async def run(self) -> list[CheckResult]:
        try:
            ips = await self.resolve()
            await self.session(await self.connect(ips))
        except StopProbe:
            pass
        finally:
            self._login_over.set()  # the next probe's turn, whether or not this one logged in
            if self.conn is not None:
                await self.goodbye(self.conn)
        return self.results

    async def session(self, conn: LineConn) -> None:
        security = self.target.security
        if security == "SSL/TLS":
            conn = await self.implicit_tls(conn)
            await self.greeting(conn, self.options.timeout)
            caps = await self.capabilities(conn, record=True)
        else:
            await self.greeting(conn, self.options.greeting_wait)
            caps = await self.capabilities(conn, record=security == "none")
            if security == "STARTTLS":
                conn = await self.starttls(conn, caps)
                caps = await self.capabilities(conn, record=True)
            else:
                self.add(
                    Step.TLS,
                    Status.WARN,
                    "no encryption: the password and the mail travel readable by anyone",
                    f"choose SSL/TLS or STARTTLS ({usual_ports(self.target.protocol)})",
                )
        await self.login(conn, caps)
        if isinstance(self.dialog, dialogs.SmtpDialog):
            await self.send_as(conn, self.dialog)

    # -- name resolution and connection ----------------------------------------------------

    async def resolve(self) -> list[str]:
        host, t = self.target.host, self.options.timeout
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(t):
                infos = await loop.getaddrinfo(host, self.target.port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise self.fail(
                Step.RESOLVE,
                f"no answer from DNS for {host} within {t:g} s",
                "check this computer's internet connection and DNS server",
            ) from None
        except (socket.gaierror, UnicodeError) as exc:
            raise self.fail(Step.RESOLVE, *dns_words(host, exc)) from None
        ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self.add(Step.RESOLVE, Status.PASS, f"{host} is {', '.join(ips)}")
        return ips

    async def connect(self, ips: list[str]) -> LineConn:
        errors: list[str] = []
        for ip in ips:
            try:
                conn = await LineConn.open(ip, self.target.port, self.options.timeout)
            except TimeoutError:
                errors.append("timed out")
                continue
            except OSError as exc:
                errors.append("refused" if isinstance(exc, ConnectionRefusedError) else str(exc))
                continue
            self._ip = ip
            self.conn = conn
            self.add(Step.CONNECT, Status.PASS, f"connected to {ip} port {self.target.port}")
            return conn
        raise self.fail(Step.CONNECT, *self._connect_words(errors))

    def _connect_words(self, errors: list[str]) -> tuple[str, str, str]:
        t = self.target
        ports = usual_ports(t.protocol)
        if "refused" in errors:
            return (
                f"the connection to port {t.port} of {t.host} was refused: nothing listens there",
                f"check the port: {t.protocol} is usually on {ports};"
                " if it is right, the server is not running",
                "; ".join(errors),
            )
        if "timed out" in errors:
            return (
                f"the connection to port {t.port} of {t.host} timed out after"
                f" {self.options.timeout:g} s",
                "a firewall drops the connection or the host"
                f" is down; check the port too: {t.protocol} is usually on {ports}",
                "; ".join(errors),
            )
        return (
            f"no connection to port {t.port} of {t.host}",
            "check the server name and this computer's network",
            "; ".join(errors),
        )

    # -- TLS -------------------------------------------------------------------------------

    def _sni(self) -> str | None:
        host = self.target.host
        return None if host.replace(".", "").isdigit() or ":" in host else host

    async def _reopen(self) -> LineConn:
        """A second connection: the caller closes it, or it becomes `self.conn`."""
        return await LineConn.open(self._ip, self.target.port, self.options.timeout)

    async def implicit_tls(self, conn: LineConn) -> LineConn:
        context = client_context(verify=True, cafile=self.options.cafile)
        try:
            await conn.start_tls(context, self._sni())
        except ssl.SSLCertVerificationError as exc:
            await conn.close()
            conn = await self._unverified_tls()
            self.certificate_result(conn, exc)
            return conn
        except (ssl.SSLError, ConnectionError, EOFError) as exc:
            await conn.close()
            raise await self._not_tls(exc) from None
        except TimeoutError:
            await conn.close()
            raise await self._not_tls(TimeoutError("no TLS answer")) from None
        self.certificate_result(conn, None)
        return conn

    async def _unverified_tls(self) -> LineConn:
        try:
            self.conn = conn = await self._reopen()
            await conn.start_tls(client_context(verify=False), self._sni())
        except IO_ERRORS as exc:
            raise self.io_failure(Step.TLS, exc) from None
        return conn

    async def _not_tls(self, exc: BaseException) -> StopProbe:
        """TLS failed on an SSL/TLS port: does the port speak plain text instead?"""
        t = self.target
        line = ""
        try:
            conn = await self._reopen()
            try:
                line = await conn.read_line(self.options.greeting_wait)
            finally:
                await conn.close()
        except IO_ERRORS:
            pass
        if line and dialogs.spoken_protocol(line):
            return self.fail(
                Step.TLS,
                f"port {t.port} speaks plain text, not SSL/TLS: it greeted with {line[:60]!r}",
                f"set the security to STARTTLS for port {t.port}, or use SSL/TLS on port"
                f" {usual_port(t.protocol, 'SSL/TLS')}",
                str(exc),
            )
        return self.fail(
            Step.TLS,
            f"no TLS connection on port {t.port}",
            f"check the port and security: {t.protocol} is usually on {usual_ports(t.protocol)}",
            str(exc),
        )

    async def speaks_tls(self) -> bool:
        try:
            conn = await self._reopen()
        except IO_ERRORS:
            return False
        try:
            await conn.start_tls(client_context(verify=False), self._sni())
        except IO_ERRORS:
            return False
        finally:
            await conn.close()
        return True

    async def starttls(self, conn: LineConn, caps: Caps) -> LineConn:
        t, dialog = self.target, self.dialog
        if not dialog.starttls_offered(caps):
            raise self.fail(
                Step.TLS,
                f"the server does not offer STARTTLS on port {t.port}",
                f"choose SSL/TLS on its port ({usual_ports(t.protocol)}) or ask"
                " the operator to enable STARTTLS",
                caps.text,
            )
        try:
            reply = await dialog.starttls(conn)
            if not reply.ok:
                raise self.fail(
                    Step.TLS, "the server refused STARTTLS", "choose SSL/TLS", reply.text
                )
            await conn.start_tls(
                client_context(verify=True, cafile=self.options.cafile), self._sni()
            )
        except ssl.SSLCertVerificationError as exc:
            await conn.close()
            conn = await self._unverified_starttls()
            self.certificate_result(conn, exc)
            return conn
        except IO_ERRORS as exc:
            raise self.io_failure(Step.TLS, exc) from None
        self.certificate_result(conn, None)
        return conn

    async def _unverified_starttls(self) -> LineConn:
        try:
            self.conn = conn = await self._reopen()
            await self.dialog.greeting(conn)
            await self.dialog.capabilities(conn)
            await self.dialog.starttls(conn)
            await conn.start_tls(client_context(verify=False), self._sni())
        except IO_ERRORS as exc:
            raise self.io_failure(Step.TLS, exc) from None
        return conn

    def certificate_result(
        self, conn: LineConn, error: ssl.SSLCertVerificationError | None
    ) -> None:
        facts = read_certificate(conn.peer_certificate() or b"")
        if facts is None:
            self.add(
                Step.TLS,
                Status.FAIL,
                "the server sent no readable certificate",
                "the operator must install a certificate",
                str(error or ""),
            )
            return
        trusted = chain_trusted(error)
        self.cert = (facts, trusted)
        self.results.append(self.tls_result(facts, trusted, None, conn.tls_version(), error))

    def tls_result(
        self,
        facts: CertFacts,
        trusted: bool,
        offset: datetime.timedelta | None,
        version: str = "",
        error: ssl.SSLCertVerificationError | None = None,
    ) -> CheckResult:
        return tls_check(
            self.target, facts, trusted, self.options.now(), offset, version, error
        )

    # -- greeting and capabilities -------------------------------------------------------

    async def greeting(self, conn: LineConn, wait: float) -> None:
        t = self.target
        try:
            async with asyncio.timeout(wait):
                reply = await self.dialog.greeting(conn)
        except TimeoutError:
            if not conn.tls and await self.speaks_tls():
                raise self.fail(
                    Step.GREETING,
                    f"port {t.port} expects SSL/TLS from the first byte, but the program is set"
                    f" to {t.security}: the server waits for TLS and never greets",
                    f"set the security to SSL/TLS for port {t.port}",
                ) from None
            raise self.fail(
                Step.GREETING,
                f"the server sent no greeting within {wait:g} s",
                f"check that port {t.port} is a {t.protocol} port",
            ) from None
        except IO_ERRORS as exc:
            raise self.io_failure(Step.GREETING, exc) from None
        self.clock_samples += _dates_in(reply.text, self.options.now())
        if not reply.ok:
            raise self.fail(Step.GREETING, *self._greeting_words(reply))
        self.greeted = True
        self.add(Step.GREETING, Status.PASS, f"the server greets: {reply.text[:120]}")

    def _greeting_words(self, reply: Reply) -> tuple[str, str, str]:
        t = self.target
        spoken = dialogs.spoken_protocol(reply.text)
        if spoken and spoken != t.protocol:
            return (
                f"port {t.port} answers like a {spoken} server, not {t.protocol}",
                f"{t.protocol} is usually on {usual_ports(t.protocol)}",
                reply.text,
            )
        if spoken:
            return (
                "the server refused the connection at once",
                "too many connections from this address, or the server is not ready;"
                " try again later",
                reply.text,
            )
        return (
            f"port {t.port} does not answer like a mail server",
            f"{t.protocol} is usually on {usual_ports(t.protocol)}",
            reply.text,
        )

    async def capabilities(self, conn: LineConn, *, record: bool) -> Caps:
        try:
            caps = await self.dialog.capabilities(conn)
        except IO_ERRORS as exc:
            raise self.io_failure(Step.CAPABILITIES, exc) from None
        if record:
            self.add(Step.CAPABILITIES, Status.PASS, f"the server offers: {caps.text or '-'}")
        return caps

    # -- login and sender ----------------------------------------------------------------------

    async def login(self, conn: LineConn, caps: Caps) -> None:
        t = self.target
        if self.password is None:
            self.add(
                Step.LOGIN,
                Status.SKIP,
                "login not tried: no password given",
                "run again with --password-stdin to check the login",
            )
            return
        if not self.dialog.login_offered(caps):
            raise self.fail(Step.LOGIN, *no_login_words(t, conn.tls), caps.text)
        await self.turns.wait(self._place)
        if self.turns.refused is not None:
            raise StopProbe(self._not_sent_again(*self.turns.refused))
        try:
            reply = await self.dialog.login(conn, t.username or self.address, self.password, caps)
        except IO_ERRORS as exc:
            raise self.io_failure(Step.LOGIN, exc) from None
        self.verdict = dialogs.classify_login(reply)
        self.turns.record(t.protocol, self.verdict)
        self.login_text = reply.text
        result = login_result(t, t.username or self.address, self.verdict, self.scrub(reply.text))
        self.results.append(result)
        if result.failed:
            raise StopProbe(result.summary)

    def _not_sent_again(self, protocol: str, verdict: Verdict) -> str:
        """The verdict of the server that refused the password, without asking again."""
        t = self.target
        self.verdict = verdict
        words = login_result(t, t.username or self.address, verdict, "")
        detail = (
            f"not tried: the password was refused over {protocol}, and each wrong"
            " try counts towards the server's lock-out"
        )
        self.results.append(dataclasses.replace(words, detail=detail))
        return words.summary

    async def send_as(self, conn: LineConn, dialog: dialogs.SmtpDialog) -> None:
        try:
            reply = await dialog.mail_from(conn, self.address)
        except IO_ERRORS as exc:
            raise self.io_failure(Step.SEND_AS, exc) from None
        logged_in = self.verdict is Verdict.OK
        self.results.append(send_as_result(self.target, self.address, reply, logged_in))

    async def goodbye(self, conn: LineConn) -> None:
        if not self.greeted:
            await conn.close()
            return
        try:
            async with asyncio.timeout(min(2.0, self.options.timeout)):
                await self.dialog.quit(conn)
        except (*IO_ERRORS, StopProbe):
            pass
        await conn.close()


def _dates_in(text: str, now: datetime.datetime) -> list[ClockSample]:
    found = find_date(text)
    return [(found, now)] if found is not None else []
