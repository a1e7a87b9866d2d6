"""IMAP session states, the capabilities each state offers, and the limits a
listener reads once from the configuration.

The session (session.py) and the command table (handlers/__init__.py) both
import from here, so neither has to import the other's module for these names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from postfach.config import LimitsConfig

__all__ = [
    "ANY",
    "AUTHED",
    "BASE_CAPABILITIES",
    "ENABLEABLE",
    "ImapLimits",
    "State",
    "capabilities",
]


class State(enum.Flag):
    NOT_AUTH = enum.auto()
    AUTH = enum.auto()
    SELECTED = enum.auto()
    LOGOUT = enum.auto()


ANY = State.NOT_AUTH | State.AUTH | State.SELECTED
AUTHED = State.AUTH | State.SELECTED

BASE_CAPABILITIES = (
    "IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS CHILDREN "
    "SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS MOVE CONDSTORE QRESYNC "
    "ESEARCH SEARCHRES SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES UTF8=ACCEPT QUOTA "
    "QUOTA=RES-STORAGE STATUS=SIZE MULTIAPPEND BINARY OBJECTID SAVEDATE ESORT PARTIAL "
    "SORT=DISPLAY CONTEXT=SEARCH CONTEXT=SORT CATENATE URLAUTH NOTIFY"
)
ENABLEABLE = frozenset({"IMAP4REV2", "CONDSTORE", "QRESYNC", "UTF8=ACCEPT"})


@dataclass(frozen=True, slots=True)
class ImapLimits:
    """What IMAP takes from `[limits]`, read once when a listener starts."""

    max_message_size: int  # APPEND's literal, announced as APPENDLIMIT
    idle_timeout: float  # after login, between commands and in IDLE
    preauth_timeout: float  # to log in (net.LoginDeadline)

    @classmethod
    def from_config(cls, limits: LimitsConfig) -> ImapLimits:
        return cls(limits.max_message_size, limits.idle_timeout, limits.preauth_timeout)


def capabilities(
    state: State, *, plaintext_port: bool, tls: bool, login_allowed: bool, appendlimit: int
) -> str:
    """The CAPABILITY list for a session in `state` on this connection."""
    caps = BASE_CAPABILITIES
    if state is State.NOT_AUTH:
        if plaintext_port and not tls:
            caps += " STARTTLS"
        if login_allowed:
            caps += " AUTH=PLAIN AUTH=LOGIN SASL-IR"
        else:
            caps += " LOGINDISABLED"
    else:
        caps += f" APPENDLIMIT={appendlimit}"
    return caps
