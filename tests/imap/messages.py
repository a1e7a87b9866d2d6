"""Sample messages for the IMAP tests."""

from __future__ import annotations

SIMPLE = (
    b"From: Alice Example <alice@example.net>\r\n"
    b"To: a@example.org\r\n"
    b"Subject: Hello there\r\n"
    b"Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <simple@example.net>\r\n"
    b"\r\n"
    b"Just a line of text.\r\n"
)

MULTIPART = (
    b"From: Bob <bob@example.com>\r\n"
    b'To: a@example.org, "Carol C" <carol@example.org>\r\n'
    b"Cc: undisclosed-recipients:;\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and a file\r\n"
    b"Date: Wed, 03 Jan 2024 12:30:00 +0100\r\n"
    b"Message-ID: <multi@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XYZ"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--XYZ\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Gr=C3=BC=C3=9Fe aus Berlin\r\n"
    b"--XYZ\r\n"
    b'Content-Type: application/octet-stream; name="data.bin"\r\n'
    b'Content-Disposition: attachment; filename="data.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAECAwQ=\r\n"
    b"--XYZ\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: inner@example.net\r\n"
    b"Subject: inner\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--XYZ--\r\n"
    b"epilogue\r\n"
)


def reply(n: int, subject: str, parent: str | None, date_day: int) -> bytes:
    refs = f"References: {parent}\r\nIn-Reply-To: {parent}\r\n" if parent else ""
    return (
        f"From: u{n}@example.net\r\nTo: a@example.org\r\nSubject: {subject}\r\n"
        f"Date: {date_day:02d} Feb 2024 10:00:00 +0000\r\nMessage-ID: <m{n}@x>\r\n{refs}\r\n"
        f"body {n}\r\n"
    ).encode()


def literal(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data
