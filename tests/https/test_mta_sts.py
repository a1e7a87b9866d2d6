"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): the records `postfach domain dns`
prints and the policy the https listener serves agree."""

from __future__ import annotations

import re

import httpx

from harness import make_server
from postfach.config import config_from_dict
from postfach.dkim import dns_records
from postfach.mtasts import policy_id, policy_text
from support.cli import run_cli
from support.net import insecure_tls_context


def test_the_records_name_the_policy_and_its_id_follows_the_policy() -> None:
    testing = config_from_dict({"server": {"hostname": "mx.example.org"}}, "t")
    enforce = config_from_dict(
        {"server": {"hostname": "mx.example.org"}, "mta_sts": {"mode": "enforce"}}, "t"
    )
    records = dns_records("example.org", testing)
    assert "mta-sts.example.org. IN CNAME mx.example.org." in records
    assert f'_mta-sts.example.org. IN TXT "v=STSv1; id={policy_id(testing)}"' in records
    assert '_smtp._tls.example.org. IN TXT "v=TLSRPTv1; rua=mailto:postmaster@example.org"' in (
        records
    )
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", policy_id(testing))
    assert policy_id(enforce) != policy_id(testing)
    assert "mode: enforce\r\n" in policy_text(enforce)
    off = config_from_dict({"mta_sts": {"mode": "none"}}, "t")
    assert not any("_mta-sts" in line for line in dns_records("example.org", off))


async def test_domain_dns_and_the_served_policy(tmp_path) -> None:
    async with make_server(tmp_path, listeners={"https": "127.0.0.1:0", "http": ""}) as server:
        config = tmp_path / "postfach.toml"
        config.write_text(
            f'[server]\nhostname = "mail.example.org"\ndata_dir = "{tmp_path / "data"}"\n'
            f'[storage]\nurl = "{server.ctx.config.storage.url}"\n'
        )
        status, out = await run_cli(["domain", "dns", "example.org", "--config", str(config)])
        assert status == 0, out
        txt = re.search(r'_mta-sts\.example\.org\. IN TXT "v=STSv1; id=(\w+)"', out)
        assert txt is not None and txt.group(1) == policy_id(server.ctx.config)
        async with httpx.AsyncClient(verify=insecure_tls_context()) as client:
            response = await client.get(
                f"https://127.0.0.1:{server.port('https')}/.well-known/mta-sts.txt",
                headers={"Host": "mta-sts.example.org"},
            )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == policy_text(server.ctx.config)
        assert "mx: mail.example.org\r\n" in response.text
