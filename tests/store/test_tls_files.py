"""store.tls_files: the certificates and ACME answers the nodes share."""

from __future__ import annotations

from postfach.store import Store


async def test_files_are_written_replaced_listed_by_prefix_and_deleted(store: Store) -> None:
    files = store.tls_files
    assert await files.get_tls_file("certs/mail.example.org.pem") is None
    await files.put_tls_file("certs/mail.example.org.pem", b"first")
    await files.put_tls_file("certs/mail.example.org.pem", b"second")
    await files.put_tls_file("certs/autoconfig.example.org.pem", b"\x00binary\xff")
    await files.put_tls_file("http-01/tok_en", b"answer")
    await files.put_tls_file("certsXother", b"not under certs/")
    assert await files.get_tls_file("certs/mail.example.org.pem") == b"second"
    assert await files.tls_files_under("certs/") == {
        "certs/mail.example.org.pem": b"second",
        "certs/autoconfig.example.org.pem": b"\x00binary\xff",
    }
    # LIKE's wildcards in a prefix are literal
    await files.put_tls_file("http-01/tokXen", b"other")
    assert await files.tls_files_under("http-01/tok_") == {"http-01/tok_en": b"answer"}
    await files.delete_tls_file("http-01/tok_en")
    assert await files.get_tls_file("http-01/tok_en") is None
    await files.delete_tls_file("http-01/never-there")
