"""A line-based client connection for the doctor: every read has a deadline.

The doctor must never hang (issue 7), so nothing here waits without a timeout:
`read_line` gives up after `timeout` seconds with `TimeoutError`, a closed
connection is `ConnectionClosed`, an over-long line is `ProtocolTrouble`.
"""

from __future__ import annotations

import asyncio
import ssl

__all__ = ["ConnectionClosed", "LineConn", "ProtocolTrouble", "client_context"]

MAX_LINE = 64 * 1024


class ConnectionClosed(ConnectionError):
    """The server closed the connection."""


class ProtocolTrouble(Exception):
    """The server sent something no mail server sends (a huge line, binary noise)."""


def client_context(*, verify: bool, cafile: str | None = None) -> ssl.SSLContext:
    """What a mail program uses: the system's trust store, host name checked."""
    context = ssl.create_default_context()
    if cafile:
        context.load_verify_locations(cafile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class LineConn:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.transcript: list[str] = []  # server lines only; never what we send

    @classmethod
    async def open(cls, ip: str, port: int, timeout: float) -> LineConn:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(ip, port, limit=MAX_LINE)
        return cls(reader, writer, timeout)

    @property
    def tls(self) -> bool:
        return self.writer.get_extra_info("ssl_object") is not None

    @property
    def local_ip(self) -> str:
        sockname = self.writer.get_extra_info("sockname")
        return str(sockname[0]) if sockname else "127.0.0.1"

    async def read_line(self, timeout: float | None = None) -> str:
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                raw = await self.reader.readline()
        except (asyncio.LimitOverrunError, ValueError):
            raise ProtocolTrouble("a line longer than 64 KiB") from None
        if not raw:
            raise ConnectionClosed("the server closed the connection")
        if not raw.endswith(b"\n"):
            raise ConnectionClosed("the server closed the connection in the middle of a line")
        line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
        self.transcript.append(line)
        return line

    async def send(self, line: str) -> None:
        self.writer.write(line.encode("utf-8") + b"\r\n")
        async with asyncio.timeout(self.timeout):
            await self.writer.drain()

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        """Raises ssl.SSLError (incl. SSLCertVerificationError), OSError or TimeoutError."""
        async with asyncio.timeout(self.timeout):
            await self.writer.start_tls(context, server_hostname=server_hostname)

    def peer_certificate(self) -> bytes | None:
        ssl_object = self.writer.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        der: bytes | None = ssl_object.getpeercert(binary_form=True)
        return der

    def tls_version(self) -> str:
        ssl_object = self.writer.get_extra_info("ssl_object")
        return str(ssl_object.version()) if ssl_object is not None else ""

    async def close(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(0.25):
                await self.writer.wait_closed()
        except TimeoutError:
            self.writer.transport.abort()  # a TLS peer that never answers close_notify
        except asyncio.CancelledError:
            # After an interrupted start_tls the close waiter itself may be cancelled;
            # only a cancellation of this task is passed on.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
        except Exception:  # noqa: S110 - closing is best effort
            pass
