"""Whatever name a client asks for by SNI, the certificate store answers with a
certificate and never touches a file outside its folders."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from postfach.net.certs import CertFiles, CertStore, covers
from postfach.net.tls import make_self_signed

from .test_listeners import _write_issued

_FOLDER = Path(tempfile.mkdtemp(prefix="postfach-sni-"))
_FILES = CertFiles(_FOLDER / "tls")
make_self_signed(_FOLDER / "cert.pem", _FOLDER / "key.pem", "mail.example.org")
_ISSUED = _write_issued(_FILES.issued("example.net"), "example.net", "*.example.net")
_STORE = CertStore(_FILES, _FOLDER / "cert.pem", _FOLDER / "key.pem", "mail.example.org")
# A certificate where a name like "../secret" would lead if it became a path.
_write_issued(_FILES.acme_dir / "secret.pem", "secret")

names = st.one_of(
    st.text(max_size=300),
    st.from_regex(r"[a-z0-9.*-]{0,40}(\.example\.net)?", fullmatch=True),
    st.sampled_from(["../secret", "..", "/", "a/../../secret", "EXAMPLE.NET.", "x.example.net"]),
)


@given(names)
def test_every_name_gets_a_certificate_and_no_stray_file(name: str) -> None:
    chosen = _STORE.select(name)
    expected = any(covers(p, name) for p in ("example.net", "*.example.net"))
    assert (chosen.info.serial == _ISSUED) == expected
    assert _STORE._challenge(name) is None  # no challenge is under way


@given(st.text(max_size=80), st.text(max_size=80))
def test_covers_is_total(pattern: str, name: str) -> None:
    assert covers(pattern, name) in (True, False)
