"""`postfach import imap` against mbsync (isync) copying the same mailbox in the same run.

A postfach server (`postfach serve`, only its IMAP listener) holds N messages in
user1's INBOX; both tools copy them over loopback, each timed from start to
exit: `postfach import imap` into a fresh postfach store (SQLite), `mbsync`
(Sync Pull) into a fresh Maildir. Prints messages per second and MB/s of each
and the ratio. Needs mbsync (Debian `isync`, in the Makefile's test-deps).

    PYTHONPATH=src .venv/bin/python bench/importer.py --messages 5000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "bench" / "imap"))
sys.path.insert(0, str(ROOT / "bench"))

from servers import message, start_postfach, stop  # noqa: E402

USER, PASSWORD = "user1@example.org", "pass"


def postfach(work: Path, *args: str, stdin: str = "") -> float:
    env = {**os.environ, "POSTFACH_CONFIG": "", "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "postfach", *args],
        cwd=work,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"postfach {' '.join(args)}: {result.stderr.strip()}")
    return time.perf_counter() - started


def run_import(work: Path, port: int) -> float:
    target = work / "target"
    target.mkdir()
    postfach(target, "init", "--data-dir", "D", "--domain", "example.org")
    postfach(target, "user", "add", USER, "--password-stdin", stdin="import-target-pw\n")
    return postfach(
        target,
        "import",
        "imap",
        USER,
        "--from",
        f"127.0.0.1:{port}",
        "--security",
        "none",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )


def run_mbsync(work: Path, port: int) -> float:
    maildir = work / "maildir"
    maildir.mkdir()
    rc = work / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount src\nHost 127.0.0.1\nPort {port}\nUser {USER}\nPass {PASSWORD}\n"
        "SSLType None\nAuthMechs LOGIN\n\nIMAPStore remote\nAccount src\n\n"
        f"MaildirStore local\nPath {maildir}/\nInbox {maildir}/INBOX\nSubFolders Verbatim\n\n"
        "Channel copy\nFar :remote:\nNear :local:\nPatterns *\nCreate Near\n"
        "Sync Pull\nSyncState *\n"
    )
    started = time.perf_counter()
    result = subprocess.run(["mbsync", "-c", str(rc), "-a"], capture_output=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"mbsync: {result.stderr.decode(errors='replace').strip()[-500:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--paragraphs", type=int, default=30, help="message size knob")
    args = parser.parse_args()
    if shutil.which("mbsync") is None:
        raise SystemExit("mbsync is not installed (Debian: isync; `make test-deps`)")
    with tempfile.TemporaryDirectory(prefix="postfach-import-bench-") as tmp:
        work = Path(tmp)
        raws = [message(1, n, args.paragraphs) for n in range(args.messages)]
        octets = sum(len(raw) for raw in raws)
        (work / "source").mkdir()
        proc, port = start_postfach(work / "source", 1, lambda _user: raws)
        try:
            ours = run_import(work, port)
            theirs = run_mbsync(work, port)
        finally:
            stop(proc)
    mb = octets / 1e6
    print(f"{args.messages} messages, {mb:.1f} MB, one folder, over loopback IMAP (no TLS)")
    print(
        f"postfach import imap: {ours:6.2f} s  {args.messages / ours:7.0f} msg/s  "
        f"{mb / ours:6.1f} MB/s  (process start, plan, copy into SQLite)"
    )
    print(
        f"mbsync (Sync Pull):   {theirs:6.2f} s  {args.messages / theirs:7.0f} msg/s  "
        f"{mb / theirs:6.1f} MB/s  (into a Maildir)"
    )
    print(f"ratio postfach/mbsync: {theirs / ours:.2f}x the rate")
    print(f"command: PYTHONPATH=src {sys.executable} bench/importer.py --messages {args.messages}")


if __name__ == "__main__":
    main()
