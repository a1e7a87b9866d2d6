"""ManageSieve spoken by hand (RFC 5804): capabilities, STARTTLS, AUTHENTICATE,
every script command and its response codes, limits, on each backend."""

from __future__ import annotations

import logging

from harness import make_server
from postfach.auth.passwords import hash_password_async
from support.net import insecure_tls_context

from .helpers import GOOD_SCRIPT, USER, Wire, literal, plain


async def test_greeting_lists_the_capabilities(sieve_server):
    wire = await Wire.open(sieve_server)
    assert wire.greeting is not None
    caps = wire.greeting.capabilities
    assert caps["IMPLEMENTATION"] == "postfach"
    assert caps["SASL"] == "PLAIN"  # the test server allows plaintext logins
    assert caps["VERSION"] == "1.0"
    assert "STARTTLS" in caps and "UNAUTHENTICATE" in caps
    assert {"fileinto", "vacation", "date", "imap4flags"} <= set(caps["SIEVE"].split())
    assert int(caps["MAXREDIRECTS"]) > 0
    assert "OWNER" not in caps
    again = await wire.cmd(b"CAPABILITY")
    assert again.ok and again.capabilities == caps
    assert (await wire.cmd(b"LOGOUT")).ok
    assert await wire.closed()


async def test_login_owner_and_unauthenticate(sieve_server):
    wire = await Wire.open(sieve_server)
    assert (await wire.cmd(b"LISTSCRIPTS")).status == b'NO "Authenticate first"'
    assert (await wire.login(password="wrong")).status == b'NO "Authentication failed"'
    assert (await wire.login()).ok
    caps = (await wire.cmd(b"CAPABILITY")).capabilities
    assert caps["OWNER"] == USER and caps["SASL"] == "" and "STARTTLS" not in caps
    assert (await wire.login()).status == b'NO "Already authenticated"'
    assert (await wire.cmd(b"STARTTLS")).status == b'NO "Already authenticated"'
    assert (await wire.cmd(b"UNAUTHENTICATE")).ok
    assert (await wire.cmd(b"LISTSCRIPTS")).status == b'NO "Authenticate first"'


async def test_sasl_continuation_and_cancel(sieve_server):
    wire = await Wire.open(sieve_server)
    await wire.send(b'AUTHENTICATE "PLAIN"\r\n')
    assert await wire.line() == b'""'
    assert (await wire.cmd(b'"*"')).status == b'NO "Authentication cancelled"'
    await wire.send(b'authenticate "plain"\r\n')
    assert await wire.line() == b'""'
    assert (await wire.cmd(literal(plain()))).ok
    assert (await wire.cmd(b'NOOP "tag 1"')).status == b'OK (TAG "tag 1") "Done"'
    assert (await wire.cmd(b"NOOP {4+}\r\na\r\nb")).status == b'OK "Done"'  # unquotable tag


async def test_app_passwords_log_in(sieve_server):
    account = await sieve_server.ctx.store.accounts.get_account(USER)
    digest = await hash_password_async("abcdabcdabcdabcd")
    await sieve_server.ctx.store.accounts.add_app_password(account.id, "laptop", digest)
    wire = await Wire.open(sieve_server)
    assert (await wire.login(password="abcd-abcd-abcd-abcd")).ok


async def test_plain_needs_tls_unless_allowed(tls_only_server):
    wire = await Wire.open(tls_only_server)
    assert wire.greeting is not None
    assert wire.greeting.capabilities["SASL"] == ""
    refused = await wire.login()
    assert refused.status == b'NO (ENCRYPT-NEEDED) "Use STARTTLS before authenticating"'
    after = await wire.starttls()  # §2.2: the capabilities come again after the handshake
    assert after.ok and after.capabilities["SASL"] == "PLAIN"
    assert "STARTTLS" not in after.capabilities
    assert (await wire.cmd(b"STARTTLS")).status == b'NO "TLS is already active"'
    assert (await wire.login()).ok
    assert (await wire.cmd(b"LISTSCRIPTS")).ok


async def test_starttls_drops_pipelined_plaintext(tls_only_server):
    wire = await Wire.open(tls_only_server)
    await wire.send(b"STARTTLS\r\nLOGOUT\r\n")
    assert (await wire.response()).ok
    await wire.writer.start_tls(insecure_tls_context())
    assert (await wire.response()).capabilities["SASL"] == "PLAIN"
    assert (await wire.cmd(b"NOOP")).ok  # the LOGOUT sent in the clear was dropped


async def test_scripts_put_list_get_activate_rename_delete(sieve_server):
    wire = await Wire.open(sieve_server)
    assert (await wire.login()).ok
    assert (await wire.cmd(b"LISTSCRIPTS")).lines == []
    stored = await wire.cmd(b'PUTSCRIPT "lists" ' + literal(GOOD_SCRIPT))
    assert stored.status == (  # stored, with a warning: there is no folder "Lists"
        b"OK (WARNINGS) \"line 3, column 3: fileinto 'Lists': there is no such folder;"
        b' that mail would stay in the Inbox"'
    )
    account = await sieve_server.ctx.store.accounts.get_account(USER)
    await sieve_server.ctx.store.mailboxes.create_mailbox(account.id, "Lists")
    assert (await wire.cmd(b"CHECKSCRIPT " + literal(GOOD_SCRIPT))).status == (
        b'OK "Script is valid"'
    )
    created = 'require ["fileinto", "mailbox"];\nfileinto :create "New";\nfileinto "INBOX";\n'
    assert (await wire.cmd(b"CHECKSCRIPT " + literal(created))).status == b'OK "Script is valid"'
    assert (await wire.cmd(b'PUTSCRIPT "other" {7+}\r\nkeep;\r\n')).ok
    assert (await wire.cmd(b"LISTSCRIPTS")).lines == [b'"lists"', b'"other"']
    got = await wire.cmd(b'GETSCRIPT "lists"')
    assert got.ok and got.lines == [GOOD_SCRIPT.encode()]
    assert (await wire.cmd(b'SETACTIVE "lists"')).ok
    assert (await wire.cmd(b"LISTSCRIPTS")).lines == [b'"lists" ACTIVE', b'"other"']
    deleted = await wire.cmd(b'DELETESCRIPT "lists"')
    assert deleted.status == b'NO (ACTIVE) "The active script cannot be deleted"'
    exists = await wire.cmd(b'RENAMESCRIPT "other" "lists"')
    assert exists.status.startswith(b"NO (ALREADYEXISTS)")
    assert (await wire.cmd(b'RENAMESCRIPT "lists" "Listen \xc3\xbc"')).ok
    active = await sieve_server.ctx.store.sieve.active_script(
        (await sieve_server.ctx.store.accounts.get_account(USER)).id
    )
    assert active is not None and active[0] == "Listen ü"
    assert (await wire.cmd(b'SETACTIVE ""')).ok
    assert (await wire.cmd(b'DELETESCRIPT "Listen \xc3\xbc"')).ok
    for command in (b'GETSCRIPT "gone"', b'DELETESCRIPT "gone"', b'SETACTIVE "gone"',
                    b'RENAMESCRIPT "gone" "new"'):  # fmt: skip
        assert (await wire.cmd(command)).status.startswith(b"NO (NONEXISTENT)"), command
    assert (await wire.cmd(b"LISTSCRIPTS")).lines == [b'"other"']


async def test_syntax_errors_are_refused_with_their_place(sieve_server):
    wire = await Wire.open(sieve_server)
    assert (await wire.login()).ok
    bad = 'require "fileinto";\r\nif header :contains "subject" "x" {\r\n  fileinto "A"\r\n}\r\n'
    refused = await wire.cmd(b'PUTSCRIPT "bad" ' + literal(bad))
    assert refused.status.startswith(b'NO "line '), refused
    assert b"column" in refused.status
    checked = await wire.cmd(b"CHECKSCRIPT " + literal(bad))
    assert checked.status == refused.status
    unknown = await wire.cmd(b"CHECKSCRIPT " + literal('require "nonsense";\r\nkeep;\r\n'))
    assert unknown.status.startswith(b'NO "line 1, column')
    assert (await wire.cmd(b"CHECKSCRIPT " + literal(GOOD_SCRIPT))).ok
    assert (await wire.cmd(b"LISTSCRIPTS")).lines == []  # nothing was stored
    not_utf8 = await wire.cmd(b'PUTSCRIPT "x" ' + literal(b"keep; # \xff\r\n"))
    assert not_utf8.status == b'NO "a script must be UTF-8"'


async def test_limits_answer_quota_codes(sieve_server):
    wire = await Wire.open(sieve_server)
    assert (await wire.login()).ok
    limit = sieve_server.ctx.config.limits.sieve_max_script_size
    assert (await wire.cmd(b'HAVESPACE "a" %d' % limit)).ok
    too_big = await wire.cmd(b'HAVESPACE "a" %d' % (limit + 1))
    assert too_big.status.startswith(b"NO (QUOTA/MAXSIZE)")
    huge = "keep;\r\n" + "#" * (limit + 10) + "\r\n"
    assert (await wire.cmd(b'PUTSCRIPT "a" ' + literal(huge))).status.startswith(
        b"NO (QUOTA/MAXSIZE)"
    )
    # A literal far past the limit is read and dropped; the session goes on.
    enormous = literal("#" * (limit * 3))
    assert (await wire.cmd(b'PUTSCRIPT "a" ' + enormous)).status.startswith(b"NO (QUOTA/MAXSIZE)")
    assert (await wire.cmd(b"NOOP")).ok
    for n in range(sieve_server.ctx.config.limits.sieve_max_scripts):
        assert (await wire.cmd(b'PUTSCRIPT "s%d" {5+}\r\nkeep;' % n)).ok
    more = await wire.cmd(b'PUTSCRIPT "one more" {5+}\r\nkeep;')
    assert more.status.startswith(b"NO (QUOTA/MAXSCRIPTS)")
    assert (await wire.cmd(b'HAVESPACE "one more" 5')).status.startswith(b"NO (QUOTA/MAXSCRIPTS)")
    assert (await wire.cmd(b'PUTSCRIPT "s0" {6+}\r\nstop;\r\n')).ok  # replacing is fine


async def test_log_out_everywhere_ends_the_session(sieve_server):
    wire = await Wire.open(sieve_server)
    assert (await wire.login()).ok
    account = await sieve_server.ctx.store.accounts.get_account(USER)
    await sieve_server.ctx.store.accounts.bump_credentials(account.id)
    assert await wire.closed()
    again = await Wire.open(sieve_server)
    assert (await again.login()).ok


async def test_failed_logins_are_throttled_and_logged(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="postfach")
    async with make_server(tmp_path, auth={"max_failures": 2}) as server:
        await server.add_user(USER, "right password")
        wire = await Wire.open(server)
        for _ in range(2):
            assert (await wire.login(password="wrong")).status == b'NO "Authentication failed"'
        held = await wire.login(password="right password")
        assert held.status == b'NO (TRYLATER) "Too many failed logins, try again later"'
    lines = [r.getMessage() for r in caplog.records if "proto=managesieve" in r.getMessage()]
    assert any("reason=bad-password" in line for line in lines), lines
    assert all("wrong" not in line and "right password" not in line for line in caplog.messages)
