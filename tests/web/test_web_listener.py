"""The `http` listener itself: uvicorn inside postfach's loop, on port 0 too."""

from __future__ import annotations

import asyncio

import httpx

from harness import make_server
from postfach.config import ListenerSpec
from postfach.web.server import start_listener


async def test_serves_over_a_real_socket(server):
    port = server.port("http")
    assert port > 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.get("/login")
        assert response.status_code == 200
        assert "server" not in response.headers  # no version banner
        config = await client.get("/mail/config-v1.1.xml?emailaddress=a%40example.org")
        assert config.status_code == 200 and b"<clientConfig" in config.content
        css = await client.get("/static/style.css")
        assert css.status_code == 200 and "cache-control" not in css.headers


async def test_a_second_listener_and_stop(server):
    listener = await start_listener(server.ctx, ListenerSpec("http", "127.0.0.1", 0))
    port = listener.port
    assert port not in (0, server.port("http"))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/login")).status_code == 200
    await asyncio.wait_for(listener.stop(), 10)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        try:
            await client.get("/login")
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("still listening after stop()")


async def test_a_port_in_use_is_an_error(server):
    spec = ListenerSpec("http", "127.0.0.1", server.port("http"))
    try:
        listener = await start_listener(server.ctx, spec)
    except OSError:
        return
    await listener.stop()
    raise AssertionError("started on a port in use")


async def test_stop_with_an_open_keepalive_connection(tmp_path):
    async with make_server(tmp_path) as running:
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.port('http')}")
        assert (await client.get("/login")).status_code == 200
        # leaving the block stops the App while the client's connection is open
    await client.aclose()
