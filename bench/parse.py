"""Message parsing: postfach's parser against Python's email package, in one run.

The parser runs for every message SMTP accepts and every APPEND; this prints the
median time of each for an ordinary 10 KB multipart message and a 10 MB
attachment, and their ratio (the tests only guard against quadratic blow-ups).

    .venv/bin/python bench/parse.py [--runs 30]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import statistics
import sys
import time
from collections.abc import Callable

from postfach.message.parse import _parse


def ordinary() -> bytes:
    body = b"".join(b"line %d of some ordinary text in the body\r\n" % i for i in range(150))
    return (
        b"From: A <a@example.org>\r\nTo: b@example.com, c@example.com\r\nSubject: speed\r\n"
        b"Date: Mon, 01 Jan 2024 10:00:00 +0100\r\nMessage-ID: <s@x>\r\n"
        b'Content-Type: multipart/alternative; boundary="s"\r\n\r\n'
        b"--s\r\nContent-Type: text/plain\r\n\r\n" + body + b"\r\n--s\r\n"
        b"Content-Type: text/html\r\n\r\n<p>" + body + b"</p>\r\n--s--\r\n"
    )


def big_attachment() -> bytes:
    blob = (b"QUJD" * 19 + b"\r\n") * 130_000
    return (
        b"Subject: big\r\nContent-Type: multipart/mixed; boundary=big\r\n\r\n"
        b"--big\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
        b"--big\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + blob
        + b"\r\n--big--\r\n"
    )


def median_seconds(parse: Callable[[bytes], object], raw: bytes, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        parse(raw)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def python_email(raw: bytes) -> object:
    return email.message_from_bytes(raw, policy=email.policy.default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    for name, raw in (("10 KB multipart", ordinary()), ("10 MB attachment", big_attachment())):
        ours = median_seconds(_parse, raw, args.runs)
        reference = median_seconds(python_email, raw, args.runs)
        print(
            f"{name:18} postfach {ours * 1000:8.2f} ms   email package {reference * 1000:8.2f} ms"
            f"   ratio {reference / ours:5.2f}x"
        )
    print(f"reproduce: .venv/bin/python bench/parse.py --runs {args.runs}", file=sys.stderr)


if __name__ == "__main__":
    main()
