"""Issue 20: `limits.max_connections_per_ip` under `serve --workers 2` is kept by
the supervisor, which sees every client's address at accept (net/handover.py);
behind a PROXY header, where only the worker learns the client, the workers
count together in the runtime file.

The limit across workers, its refusal and a dead worker's connections are in
test_workers.py; here: the hand-over message itself, and a PROXY listener whose
connections all come from the proxy's one address.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from postfach.net import handover
from postfach.store.relaylines import closed_line, closed_number
from support.serve import prepare_user, start_serve


def test_the_message_says_listener_number_and_count() -> None:
    for count in handover.Count:
        message = handover.encode("imaps", 12345, count)
        assert handover.decode(message) == ("imaps", 12345, count)
    assert handover.Count.IN.admitted is True
    assert handover.Count.OVER.admitted is False
    assert handover.Count.WORKER.admitted is None
    assert closed_number(closed_line(12345)) == 12345
    assert closed_number(b"beat\n") is None


@given(st.binary(max_size=64))
def test_any_other_message_is_none(message: bytes) -> None:
    decoded = handover.decode(message)
    if decoded is not None:
        assert handover.encode(*decoded) == message
    number = closed_number(message)
    assert number is None or isinstance(number, int)


def v1_header(client: str, port: int) -> bytes:
    return f"PROXY TCP4 {client} 127.0.0.1 40000 {port}\r\n".encode()


def test_behind_a_proxy_the_workers_count_the_named_addresses(tmp_path: Path) -> None:
    """Every connection comes from the proxy, 127.0.0.1: with a limit of 2 the
    third naming 192.0.2.7 is refused, and one naming 192.0.2.8 is let in
    although four are then open from 127.0.0.1."""
    url = f"sqlite:///{tmp_path / 'postfach.db'}"
    asyncio.run(prepare_user(url, "alice@example.org", "a password"))
    off = "\n".join(
        f'{name} = ""'
        for name in (
            "smtp", "submission", "submissions", "imaps", "pop3s", "imap", "https", "http",
            "managesieve", "devices",
        )
    )  # fmt: skip
    config = tmp_path / "postfach.toml"
    config.write_text(
        f'[server]\nhostname = "mail.example.org"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[storage]\nurl = "{url}"\n[listeners]\npop3 = "127.0.0.1:0"\n{off}\n'
        '[proxy]\nprotocol_listeners = ["pop3"]\ntrusted = ["127.0.0.1/32"]\n'
        "[limits]\nmax_connections_per_ip = 2\n"
    )
    process, ports = start_serve(config, tmp_path / "serve.log", workers=2)
    port = ports["pop3"]
    held: list[socket.socket] = []
    try:
        greetings = []
        for client in ("192.0.2.7", "192.0.2.7", "192.0.2.7", "192.0.2.8"):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(v1_header(client, port))
            greetings.append(sock.makefile("rb").readline())
            held.append(sock)
        assert [g[:3] for g in greetings] == [b"+OK", b"+OK", b"-ER", b"+OK"], greetings
    finally:
        for sock in held:
            sock.close()
        process.terminate()
        process.wait(30)
