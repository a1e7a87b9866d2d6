"""How an import tells its progress: a small Protocol, and rich's bar for the CLI."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import TaskID

__all__ = ["Bar", "Quiet", "Reporter"]


class Reporter(Protocol):
    def start(self, messages: int, octets: int) -> None: ...
    def folder(self, name: str) -> None: ...
    def advance(self, messages: int, octets: int) -> None: ...


class Quiet:
    """No output (tests, the web's background import keeps counts itself)."""

    def __init__(self) -> None:
        self.messages = 0
        self.octets = 0

    def start(self, messages: int, octets: int) -> None:
        pass

    def folder(self, name: str) -> None:
        pass

    def advance(self, messages: int, octets: int) -> None:
        self.messages += messages
        self.octets += octets


class Bar:
    """Messages, bytes, rate and ETA on stderr, when stderr is a terminal."""

    def __init__(self) -> None:
        # rich only here, for the command line: a worker that imports mail for the
        # web (Quiet) does not hold its ~3 MB of modules.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[messages]}/{task.fields[of]} messages"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            # Not a terminal (a script, a pipe): no bar; the summary line says it all.
            disable=not console.is_terminal,
        )
        self._task: TaskID | None = None
        self._messages = 0

    def __enter__(self) -> Bar:
        self._progress.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.__exit__(kind, exc, tb)

    def start(self, messages: int, octets: int) -> None:
        self._task = self._progress.add_task(
            "importing", total=max(octets, 1), messages=0, of=messages
        )

    def folder(self, name: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, description=name[:24])

    def advance(self, messages: int, octets: int) -> None:
        if self._task is None:
            return
        self._messages += messages
        self._progress.update(self._task, advance=octets, messages=self._messages)
