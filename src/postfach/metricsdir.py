"""The folder of the workers' metric files (metrics.py), made by the supervisor.

Apart from metrics.py so that the supervisor of `serve --workers N`, which
counts nothing itself, does not load prometheus-client to make it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["MULTIPROC_ENV", "prepare_multiprocess"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(data_dir: Path) -> Path:
    """The supervisor's step before it starts workers: an empty folder for their
    metric files, named in the environment the workers inherit."""
    folder = data_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder
