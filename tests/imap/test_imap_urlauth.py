"""URLAUTH (RFC 4467) over the wire: GENURLAUTH, URLFETCH and RESETKEY with the
INTERNAL mechanism, after RFC 4467 §§6-7's examples; access identifiers,
;EXPIRE=, and a URLAUTH URL in CATENATE (RFC 4469 §5)."""

from __future__ import annotations

import re

from tests.imap.conftest import PASSWORD, USER
from tests.imap.messages import MULTIPART, literal

HOST = "mail.example.org"
OTHER = "b@example.org"
OWNER = USER.replace("@", "%40")


async def setup(wire_any, imap_any):
    a = await wire_any()
    _, status = await a.cmd(b"APPEND INBOX " + literal(MULTIPART))
    uid = int(re.search(r"APPENDUID \d+ (\d+)", status).group(1))
    await imap_any.add_user(OTHER, PASSWORD)
    b = await wire_any(login=False)
    await b.login(OTHER, PASSWORD)
    return a, b, f"imap://{OWNER}@{HOST}/INBOX/;uid={uid}/;section=1"


async def sign(c, rump: str) -> str:
    (line,) = await c.ok(f'GENURLAUTH "{rump}" INTERNAL')
    found = re.fullmatch(r'\* GENURLAUTH "(.*)"', line)
    assert found is not None, line
    assert re.fullmatch(re.escape(rump) + r":internal:[0-9a-f]{32}", found.group(1))
    return found.group(1)


async def test_capability(wire_any):
    c = await wire_any()
    (line,) = await c.ok("CAPABILITY")
    assert "URLAUTH" in line.split()
    assert "* OK [URLMECH INTERNAL] Ok" in await c.ok("SELECT INBOX")


async def test_genurlauth_and_urlfetch_by_access(wire_any, imap_any):
    a, b, base = await setup(wire_any, imap_any)
    part = b"Gr=C3=BC=C3=9Fe aus Berlin"  # BODY[1] as stored (quoted-printable)
    mine = await sign(a, base + ";urlauth=user+" + OWNER)
    # the owner fetches it (RFC 4467 §7 example: one URLFETCH line per command)
    assert await a.ok(f'URLFETCH "{mine}"') == [
        f'* URLFETCH "{mine}" {{{len(part)}}}\r\n' + part.decode("latin-1")
    ]
    # user+a is for a alone; b gets NIL, as does anyone for submit+ over IMAP
    assert await b.ok(f'URLFETCH "{mine}"') == [f'* URLFETCH "{mine}" NIL']
    submit = await sign(a, base + ";urlauth=submit+" + OWNER)
    assert await a.ok(f'URLFETCH "{submit}"') == [f'* URLFETCH "{submit}" NIL']
    anyone = await sign(a, base + ";urlauth=anonymous")
    users = await sign(a, base + ";urlauth=authuser")
    forged = anyone[:-1] + ("1" if anyone.endswith("0") else "0")
    (line,) = await b.ok(f'URLFETCH "{anyone}" "{users}" "{forged}"')
    assert line == (
        f'* URLFETCH "{anyone}" {{{len(part)}}}\r\n{part.decode("latin-1")}'
        f' "{users}" {{{len(part)}}}\r\n{part.decode("latin-1")} "{forged}" NIL'
    )
    # a URLAUTH URL in CATENATE is read as URLFETCH would read it
    _, status = await b.cmd(f'APPEND INBOX CATENATE (TEXT {{11+}}\r\nSubject: \r\n URL "{users}")')
    assert status.startswith("OK [APPENDUID"), status


async def test_resetkey_and_expire(wire_any, imap_any):
    a, b, base = await setup(wire_any, imap_any)
    anyone = await sign(a, base + ";urlauth=anonymous")
    expired = await sign(a, base + ";EXPIRE=2000-01-01T00:00:00Z;urlauth=anonymous")
    later = await sign(a, base + ";expire=2999-01-01T00:00:00+01:00;urlauth=anonymous")
    (line,) = await b.ok(f'URLFETCH "{expired}" "{later}"')
    assert line.startswith(f'* URLFETCH "{expired}" NIL "{later}" {{')
    assert await a.ok("RESETKEY Drafts") == []  # another mailbox's: INBOX's key stays
    (line,) = await b.ok(f'URLFETCH "{anyone}"')
    assert not line.endswith("NIL")
    _, status = await a.cmd("RESETKEY")
    assert status == "OK [URLMECH INTERNAL] RESETKEY completed"
    assert await b.ok(f'URLFETCH "{anyone}"') == [f'* URLFETCH "{anyone}" NIL']
    fresh = await sign(a, base + ";urlauth=anonymous")
    assert fresh != anyone
    assert await a.no("RESETKEY INBOX XSHA1") == "NO Unsupported URLAUTH mechanism XSHA1"
    assert (await a.no("RESETKEY Nowhere")).startswith("NO [NONEXISTENT]")


async def test_genurlauth_refusals(wire_any, imap_any):
    a, b, base = await setup(wire_any, imap_any)
    other = f"imap://b%40example.org@{HOST}/INBOX/;uid=1;urlauth=anonymous"
    cases = {
        f'"{base};urlauth=anonymous" XSHA1': "NO Unsupported URLAUTH mechanism XSHA1",
        f'"{base}" INTERNAL': "NO The URL must end in ;URLAUTH=<access>",
        f'"{base};urlauth=anonymous:internal:00" INTERNAL': (
            "NO The URL must end in ;URLAUTH=<access>"
        ),
        f'"{base};urlauth=everyone" INTERNAL': "NO Invalid URLAUTH access identifier",
        f'"{other}" INTERNAL': "NO The URL must name this server and your own mailbox",
        f'"imap://{OWNER}@elsewhere.example/INBOX/;uid=1;urlauth=anonymous" INTERNAL': (
            "NO The URL must name this server and your own mailbox"
        ),
        f'"imap://{OWNER}@{HOST}/Nowhere/;uid=1;urlauth=anonymous" INTERNAL': (
            "NO No such mailbox"
        ),
    }
    for args, reply in cases.items():
        assert await a.no(f"GENURLAUTH {args}") == reply, args
    assert await a.bad("GENURLAUTH") == "BAD GENURLAUTH needs a URL and a mechanism"
    assert await a.bad("URLFETCH") == "BAD URLFETCH needs a URL"
    assert await b.ok('URLFETCH "/INBOX/;UID=1"') == ['* URLFETCH "/INBOX/;UID=1" NIL']
