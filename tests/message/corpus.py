"""The .eml corpus under data/: stored with LF, served with CRLF unless the
name starts with "lf-" (the bare-LF case)."""

from __future__ import annotations

from pathlib import Path

from postfach.message import Address

DATA = Path(__file__).parent / "data"


def load(name: str) -> bytes:
    data = (DATA / f"{name}.eml").read_bytes()
    return data if name.startswith("lf-") else data.replace(b"\n", b"\r\n")


def names() -> list[str]:
    return sorted(p.stem for p in DATA.glob("*.eml"))


def addr(name: bytes | None, mailbox: bytes | None, host: bytes | None) -> Address:
    return Address(name, None, mailbox, host)


def span(raw: bytes, start_marker: bytes, end_marker: bytes) -> tuple[int, int]:
    """Offsets of the first start_marker and of the end of the first end_marker after it."""
    start = raw.index(start_marker)
    return start, raw.index(end_marker, start) + len(end_marker)
