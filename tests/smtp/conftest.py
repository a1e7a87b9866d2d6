"""SMTP test fixtures: the queue tables and a raw transcript client."""

from __future__ import annotations

