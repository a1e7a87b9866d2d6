"""`postfach serve --workers 2`, as a real process tree, over the wire.

Which worker accepts a connection is the kernel's choice, so each test opens
connections until it has one in each worker, found through /proc (the
server-side socket of a connection belongs to exactly one worker process).
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import poplib
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import pytest
from aiosmtpd.controller import Controller

from harness import BACKENDS, storage_url
from support.net import insecure_tls_context
from support.serve import prepare_user, start_serve

USER = "alice@example.org"
PASSWORD = "correct horse battery"
MESSAGE = b"From: bob@example.net\r\nSubject: hello\r\n\r\nbody\r\n"

T = TypeVar("T")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


@dataclass
class Cluster:
    process: subprocess.Popen[str]
    ports: dict[str, int]
    log: Path

    def workers(self) -> list[int]:
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    stat = (entry / "stat").read_text()
                    if int(stat[stat.rindex(")") + 2 :].split()[1]) == self.process.pid:
                        children.append(int(entry.name))
        return sorted(children)

    def primary(self) -> int:
        """The pid of worker 0 (the one with the queue, HTTP and the mailing engine)."""
        for pid in self.workers():
            if b'"index": 0,' in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        raise AssertionError("no worker 0")

    def worker_of(self, client: socket.socket) -> int:
        """The worker pid holding the server side of `client`'s connection."""
        local_port = client.getsockname()[1]
        server_port = client.getpeername()[1]
        inode = ""
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == server_port and int(
                remote.split(":")[1], 16
            ) == local_port:
                inode = fields[9]
        assert inode, "the server side of the connection is not in /proc/net/tcp"
        deadline = time.monotonic() + 5  # in flight from the supervisor, it is in neither
        while time.monotonic() < deadline:
            for pid in self.workers():
                with contextlib.suppress(OSError):
                    for fd in Path(f"/proc/{pid}/fd").iterdir():
                        if os.readlink(fd) == f"socket:[{inode}]":
                            return pid
            time.sleep(0.02)
        raise AssertionError("no worker holds the connection")

    def one_in_each(self, connect: Callable[[], T], sock: Callable[[T], socket.socket]) -> list[T]:
        """Connections until there is one in each worker; the extra ones are closed
        at once (and given a moment to be counted out: limits stay tight)."""
        found: dict[int, T] = {}
        for _ in range(60):
            conn = connect()
            pid = self.worker_of(sock(conn))
            if pid not in found:
                found[pid] = conn
            else:
                sock(conn).close()
                time.sleep(0.05)
            if len(found) == 2:
                break
        assert len(found) == 2, "every connection went to one worker"
        return list(found.values())

    def imap(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=10)
        return client

    def imap_login(self) -> imaplib.IMAP4:
        client = self.imap()
        client.login(USER, PASSWORD)
        return client


async def _prepare(url: str) -> None:
    await prepare_user(url, USER, PASSWORD)


def _start(tmp_path: Path, url: str, limits: str = "", extra: str = "") -> Cluster:
    data = tmp_path / "data"
    off = "\n".join(
        f'{n} = ""' for n in ("submissions", "pop3s", "devices", "https", "managesieve")
    )
    config = tmp_path / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "mail.example.org"\ndata_dir = "{data}"\n'
        f'[storage]\nurl = "{url}"\n'
        '[listeners]\nimap = "127.0.0.1:0"\npop3 = "127.0.0.1:0"\nsmtp = "127.0.0.1:0"\n'
        f'submission = "127.0.0.1:0"\nimaps = "127.0.0.1:0"\nhttp = "127.0.0.1:0"\n{off}\n'
        f"[auth]\nallow_plaintext = true\n[limits]\n{limits}\n{extra}"
    )
    log = tmp_path / "serve.log"
    process, ports = start_serve(config, log)
    if "imap" not in ports:
        raise AssertionError(f"serve did not start: {log.read_text()[-2000:]}")
    return Cluster(process, ports, log)


@pytest.fixture(params=BACKENDS)
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    url = asyncio.run(storage_url(request.param, tmp_path))
    asyncio.run(_prepare(url))
    cluster = _start(tmp_path, url)
    try:
        yield cluster
    finally:
        _stop(cluster)


def _stop(cluster: Cluster) -> None:
    if cluster.process.poll() is None:
        cluster.process.send_signal(signal.SIGTERM)
        try:
            cluster.process.wait(30)
        except subprocess.TimeoutExpired:
            cluster.process.kill()
            cluster.process.wait()


def _sock(client: imaplib.IMAP4) -> socket.socket:
    return client.sock


def _idle_until(client: imaplib.IMAP4, want: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Reads untagged lines of an IDLE until one holds `want`; (line, seconds)."""
    start = time.monotonic()
    client.sock.settimeout(timeout)
    while True:
        line = client.readline()
        if want in line:
            return line, time.monotonic() - start
        assert line, "connection closed during IDLE"


def _idle(client: imaplib.IMAP4) -> None:
    tag = client._new_tag()  # type: ignore[attr-defined]
    client.send(tag + b" IDLE\r\n")
    assert client.readline().startswith(b"+")
    client._idle_tag = tag  # type: ignore[attr-defined]


def _done(client: imaplib.IMAP4) -> None:
    client.send(b"DONE\r\n")
    tag = client._idle_tag  # type: ignore[attr-defined]
    while not (line := client.readline()).startswith(tag):
        assert line
    assert b" OK " in line


def test_banner_and_two_workers(cluster: Cluster) -> None:
    assert len(cluster.workers()) == 2
    assert set(cluster.ports) >= {"imap", "pop3", "smtp", "http"}
    clients = cluster.one_in_each(cluster.imap_login, _sock)
    for client in clients:
        assert client.select("INBOX")[0] == "OK"
        client.logout()


def test_implicit_tls_in_each_worker(cluster: Cluster) -> None:
    """imaps: the worker does the TLS handshake on a connection the supervisor accepted."""
    context = insecure_tls_context()

    def connect() -> imaplib.IMAP4_SSL:
        return imaplib.IMAP4_SSL("127.0.0.1", cluster.ports["imaps"], ssl_context=context)

    clients = cluster.one_in_each(connect, _sock)
    certificates = set()
    for client in clients:
        certificates.add(client.sock.getpeercert(binary_form=True))
        client.login(USER, PASSWORD)
        assert client.select("INBOX")[0] == "OK"
        client.logout()
    assert len(certificates) == 1  # one certificate for the server, not one per worker
    # A client that never finishes its handshake costs nothing but its own connection.
    with socket.create_connection(("127.0.0.1", cluster.ports["imaps"]), timeout=10) as raw:
        raw.sendall(b"not a TLS hello\r\n")
        received = b""
        while chunk := raw.recv(100):  # at most a TLS alert, then the end
            received += chunk
        assert len(received) < 100
    again = connect()
    again.logout()


def test_idle_hears_changes_made_in_the_other_worker(cluster: Cluster) -> None:
    watcher, actor = cluster.one_in_each(cluster.imap_login, _sock)
    watcher.select("INBOX")
    actor.select("INBOX")
    _idle(watcher)
    actor.append("INBOX", "", imaplib.Time2Internaldate(time.time()), MESSAGE)
    line, seconds = _idle_until(watcher, b"EXISTS")
    assert line.strip() == b"* 1 EXISTS"
    assert seconds < 1.0, f"EXISTS after {seconds:.3f} s"
    actor.store("1", "+FLAGS", "(\\Flagged)")
    line, _ = _idle_until(watcher, b"FETCH")
    assert b"\\Flagged" in line
    actor.store("1", "+FLAGS", "(\\Deleted)")
    actor.expunge()
    line, _ = _idle_until(watcher, b"EXPUNGE")
    assert line.strip() == b"* 1 EXPUNGE"
    _done(watcher)
    for client in (watcher, actor):
        client.logout()


def test_notify_hears_changes_made_in_the_other_worker(cluster: Cluster) -> None:
    """RFC 5465 NOTIFY: the other worker's changes arrive with no command in progress."""
    watcher, actor = cluster.one_in_each(cluster.imap_login, _sock)
    actor.create("Work")
    watcher.select("INBOX")
    tag = watcher._new_tag()  # type: ignore[attr-defined]
    watcher.send(
        tag + b" NOTIFY SET (selected (MessageNew MessageExpunge))"
        b" (personal (MessageNew MessageExpunge MailboxName))\r\n"
    )
    assert watcher.readline().startswith(tag + b" OK")
    actor.append("Work", "", imaplib.Time2Internaldate(time.time()), MESSAGE)
    line, seconds = _idle_until(watcher, b"STATUS")
    assert line.startswith(b"* STATUS Work (MESSAGES 1 UIDNEXT 2 "), line
    assert seconds < 1.0, f"STATUS after {seconds:.3f} s"
    actor.append("INBOX", "", imaplib.Time2Internaldate(time.time()), MESSAGE)
    line, _ = _idle_until(watcher, b"EXISTS")
    assert line.strip() == b"* 1 EXISTS"
    actor.create("Other")
    line, _ = _idle_until(watcher, b"LIST")
    assert line.strip() == b'* LIST (\\HasNoChildren) "/" Other'
    for client in (watcher, actor):
        client.logout()


def test_delivery_in_one_worker_reaches_idle_in_both(cluster: Cluster) -> None:
    watchers = cluster.one_in_each(cluster.imap_login, _sock)
    for watcher in watchers:
        watcher.select("INBOX")
        _idle(watcher)
    mail = EmailMessage()
    mail["From"] = "bob@example.net"
    mail["To"] = USER
    mail["Subject"] = "over SMTP"
    mail.set_content("hello")
    with smtplib.SMTP("127.0.0.1", cluster.ports["smtp"], timeout=10) as smtp:
        smtp.send_message(mail)
    for watcher in watchers:
        line, seconds = _idle_until(watcher, b"EXISTS")
        assert line.strip() == b"* 1 EXISTS"
        assert seconds < 2.0
        _done(watcher)
        watcher.logout()


def test_recent_is_claimed_once_across_workers(cluster: Cluster) -> None:
    first, second = cluster.one_in_each(cluster.imap_login, _sock)
    writer = cluster.imap_login()
    writer.append("INBOX", "", imaplib.Time2Internaldate(time.time()), MESSAGE)
    writer.logout()
    assert first.select("INBOX") == ("OK", [b"1"])
    assert first.untagged_responses.get("RECENT") == [b"1"]
    assert second.select("INBOX") == ("OK", [b"1"])
    assert second.untagged_responses.get("RECENT") == [b"0"]
    for client in (first, second):
        client.logout()


def test_pop3_lease_holds_across_workers(cluster: Cluster) -> None:
    def connect() -> poplib.POP3:
        return poplib.POP3("127.0.0.1", cluster.ports["pop3"], timeout=10)

    first, second = cluster.one_in_each(connect, lambda p: p.sock)
    first.user(USER)
    first.pass_(PASSWORD)
    second.user(USER)
    with pytest.raises(poplib.error_proto, match=r"IN-USE"):
        second.pass_(PASSWORD)
    first.quit()
    # The lease is gone with the first session: a new one in either worker may log in.
    third = connect()
    third.user(USER)
    third.pass_(PASSWORD)
    third.quit()


@contextlib.contextmanager
def _sqlite_cluster(tmp_path: Path, max_per_ip: int) -> Iterator[Cluster]:
    url = f"sqlite:///{tmp_path / 'postfach.db'}"
    asyncio.run(_prepare(url))
    cluster = _start(tmp_path, url, limits=f"max_connections_per_ip = {max_per_ip}\n")
    try:
        yield cluster
    finally:
        _stop(cluster)


def test_connection_limit_counts_both_workers(tmp_path: Path) -> None:
    with _sqlite_cluster(tmp_path, max_per_ip=4) as cluster:
        held = cluster.one_in_each(cluster.imap, _sock)
        while len(held) < 4:
            held.append(cluster.imap())
        pids = {cluster.worker_of(c.sock) for c in held}
        assert len(pids) == 2
        with socket.create_connection(("127.0.0.1", cluster.ports["imap"]), timeout=10) as s:
            assert s.recv(200) == b"* BYE Too many connections from your address\r\n"
        held.pop().logout()
        time.sleep(0.2)
        again = cluster.imap()  # the freed place is usable, whichever worker takes it
        again.logout()
        for client in held:
            client.logout()


def test_a_dead_worker_is_replaced(tmp_path: Path) -> None:
    with _sqlite_cluster(tmp_path, max_per_ip=3) as cluster:
        victim_client, _other = cluster.one_in_each(cluster.imap_login, _sock)
        victim = cluster.worker_of(victim_client.sock)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = cluster.workers()
            if len(workers) == 2 and victim not in workers:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"no new worker: {cluster.log.read_text()[-2000:]}")
        assert "worker" in cluster.log.read_text() and "exited" in cluster.log.read_text()
        # The dead worker's connection no longer counts against the limit of 3.
        time.sleep(1.0)  # the new worker gets ready
        clients = [cluster.imap_login() for _ in range(2)]
        for client in clients:
            assert client.select("INBOX")[0] == "OK"
            client.logout()
    assert cluster.process.returncode == 0


def test_mail_submitted_to_any_worker_leaves_at_once(tmp_path: Path) -> None:
    """One queue worker per server (worker 0); the others wake it through the relay,
    well before its 5 s poll would find the mail."""
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
            received.append(envelope.original_content or b"")
            return "250 2.0.0 Ok"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        sink_port = probe.getsockname()[1]
    sink = Controller(Handler(), hostname="127.0.0.1", port=sink_port)
    sink.start()
    try:
        url = f"sqlite:///{tmp_path / 'postfach.db'}"
        asyncio.run(_prepare(url))
        extra = f'[transport]\n"example.net" = "127.0.0.1:{sink_port}"\n[queue]\nretry_base = 60\n'
        cluster = _start(tmp_path, url, extra=extra)
        try:

            def connect() -> smtplib.SMTP:
                return smtplib.SMTP("127.0.0.1", cluster.ports["submission"], timeout=10)

            clients = cluster.one_in_each(connect, lambda c: c.sock)
            primary = cluster.primary()
            for client in clients:
                if cluster.worker_of(client.sock) == primary:
                    client.quit()
                    continue
                client.login(USER, PASSWORD)
                start = time.monotonic()
                body = f"From: {USER}\r\nTo: x@example.net\r\nSubject: out\r\n\r\nhi\r\n"
                client.sendmail(USER, ["x@example.net"], body)
                client.quit()
            while not received and time.monotonic() - start < 10:
                time.sleep(0.05)
            assert len(received) == 1
            assert time.monotonic() - start < 1.5
        finally:
            _stop(cluster)
    finally:
        sink.stop()


def test_sigterm_stops_every_worker(cluster: Cluster) -> None:
    workers = cluster.workers()
    cluster.process.send_signal(signal.SIGTERM)
    assert cluster.process.wait(30) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status"
        ).read_text()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_line(tmp_path: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        off = "\n".join(
            f'{n} = ""'
            for n in (
                "smtp", "submission", "submissions", "imaps", "pop3", "pop3s", "http", "https",
                "managesieve",
            )  # fmt: skip
        )
        config = tmp_path / "postfach.toml"
        config.write_text(
            f'[server]\ndata_dir = "{tmp_path / "data"}"\n'
            f'[storage]\nurl = "sqlite:///{tmp_path / "p.db"}"\n'
            f'[listeners]\nimap = "127.0.0.1:{port}"\n{off}\n'
        )
        result = subprocess.run(
            [sys.executable, "-m", "postfach", "serve", "--config", str(config), "--workers",
             workers],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("postfach: ") and str(port) in last and "in use" in last
    assert "Traceback" not in result.stderr


def _imap_login_from(cluster: Cluster, source: str, password: str) -> bytes:
    """The tagged reply to a LOGIN sent from the loopback address `source`."""
    address = ("127.0.0.1", cluster.ports["imap"])
    with socket.create_connection(address, timeout=10, source_address=(source, 0)) as s:
        reader = s.makefile("rb")
        reader.readline()
        s.sendall(f'a1 LOGIN "{USER}" "{password}"\r\n'.encode())
        while not (line := reader.readline()).startswith(b"a1 "):
            pass
        return line.rstrip()


def test_failed_logins_count_in_both_workers_per_address(tmp_path: Path) -> None:
    """Issue #14.4 with `--workers 2`: the attempts land in either worker and count
    together against the attacker's address; the user's own address stays open."""
    with _sqlite_cluster(tmp_path, max_per_ip=50) as cluster:
        replies = [_imap_login_from(cluster, "127.0.0.2", "guess") for _ in range(6)]
        assert replies == [b"a1 NO [AUTHENTICATIONFAILED] Authentication failed"] * 5 + [
            b"a1 NO [UNAVAILABLE] Too many failed logins, try again later"
        ]
        throttled = _imap_login_from(cluster, "127.0.0.2", PASSWORD)
        assert throttled.startswith(b"a1 NO [UNAVAILABLE]")
        assert _imap_login_from(cluster, "127.0.0.1", PASSWORD).startswith(b"a1 OK")
    log = cluster.log.read_text()
    failed = f"auth failed: user=<{USER}> ip=<127.0.0.2> proto=imap reason=bad-password"
    assert log.count(failed) == 5
    assert log.count(f"auth throttled: user=<{USER}> ip=<127.0.0.2> proto=imap") == 2
