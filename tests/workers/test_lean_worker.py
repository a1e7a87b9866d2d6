"""A worker holds what it serves with, not what only the command line or a rare
page needs: rich (the CLI's tables and progress bars, ~3 MB) and segno (the QR
code of a two-factor setup, ~1 MB) load on first use. Checked in a process of
its own that starts the whole server (every listener, the web included)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import asyncio, sys
from pathlib import Path
from postfach.app import App
from postfach.config import dev_config

async def main():
    app = App(dev_config(Path(sys.argv[1])))
    await app.start()
    try:
        print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & {"rich", "segno"})))
    finally:
        await app.stop()

asyncio.run(main())
"""


def test_a_started_server_has_not_loaded_rich_or_segno(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"loaded at start: {done.stdout.strip()}"
