"""The client's address behind a reverse proxy: X-Forwarded-For and Forwarded
(RFC 7239), believed only from `proxy.trusted` (net.proxyproto.TrustedProxies,
the same list the mail listeners' PROXY headers are checked against).

The chain is read from the right: each trusted hop vouches for the one before
it, and the first address not trusted is the client (a client may write any
X-Forwarded-For it likes, but only the part its proxy appended is believed).
X-Forwarded-Proto and Forwarded's proto set the scheme.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from postfach.net.proxyproto import TrustedProxies

__all__ = ["ForwardedHeaders", "forwarded_for"]

_SCHEMES = frozenset({"http", "https"})


def _forwarded_elements(value: str) -> tuple[list[str], str | None]:
    """The for= nodes and the last proto= of a Forwarded header (RFC 7239 §4)."""
    nodes: list[str] = []
    proto: str | None = None
    for element in value.split(","):
        for pair in element.split(";"):
            name, eq, raw = pair.strip().partition("=")
            if not eq:
                continue
            text = raw.strip().strip('"')
            key = name.strip().lower()
            if key == "for":
                nodes.append(_node_address(text))
            elif key == "proto":
                proto = text.lower()
    return nodes, proto


def _node_address(node: str) -> str:
    """RFC 7239 §6: "[v6]:port", "v4:port", "unknown", "_obfuscated"."""
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else node
    if node.count(":") == 1:
        return node.partition(":")[0]
    return node


def forwarded_for(peer: str, chain: list[str], trusted: TrustedProxies) -> str:
    """The client: walking back from `peer` while each hop is trusted."""
    if peer not in trusted:
        return peer
    for hop in reversed(chain):
        if hop not in trusted:
            return hop
    return chain[0] if chain else peer


class ForwardedHeaders:
    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and client[0] in self.trusted:
            self._rewrite(scope, str(client[0]))
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope, peer: str) -> None:
        xff: list[str] = []
        forwarded: list[str] = []
        proto: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                xff += [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
            elif name == b"forwarded":
                nodes, forwarded_proto = _forwarded_elements(value.decode("latin-1"))
                forwarded += nodes
                proto = forwarded_proto or proto
            elif name == b"x-forwarded-proto" and proto is None:
                proto = value.decode("latin-1").strip().lower()
        chain = forwarded or xff  # Forwarded is the standard; it wins when both came
        if chain:
            scope["client"] = (forwarded_for(peer, chain, self.trusted), 0)
        if proto in _SCHEMES:
            scope["scheme"] = proto
