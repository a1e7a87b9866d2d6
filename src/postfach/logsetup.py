"""How `postfach serve` writes its log: text or JSON lines (`log.format`), each
with the session id of the connection that caused it (net.logcontext)."""

from __future__ import annotations

import datetime
import json
import logging

from postfach.net.logcontext import SESSION_ID

__all__ = ["JsonFormatter", "SessionFilter", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(process_label)s%(name)s: %(session_label)s%(message)s"


class SessionFilter(logging.Filter):
    """Adds `session` (the id, or "") and the labels the text format shows."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        session = SESSION_ID.get()
        record.session = session
        record.session_label = f"[{session}] " if session else ""
        record.worker = self.worker
        record.process_label = f"worker {self.worker} " if self.worker is not None else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, session, worker, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        session = getattr(record, "session", "")
        if session:
            entry["session"] = session
        worker = getattr(record, "worker", None)
        if worker is not None:
            entry["worker"] = worker
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, worker: int | None = None) -> None:
    """Sets the format on the root logger's handlers (made by cli.main's basicConfig)."""
    root = logging.getLogger()
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in root.handlers:
        handler.setFormatter(formatter)
        for old in [f for f in handler.filters if isinstance(f, SessionFilter)]:
            handler.removeFilter(old)
        handler.addFilter(SessionFilter(worker))
