"""RFC 9457 problem details: the one error format of the admin API.

Handlers raise `Problem`; `problem_response` renders it as
`application/problem+json` with `type`, `title`, `status` and `detail`. The
text never includes exception internals.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.responses import Response

__all__ = ["PROBLEM_BASE", "Problem", "problem_response"]

# RFC 9457 §4.2.1: "about:blank" means the HTTP status says it all; our own
# problem types live under this URI (they need not resolve, §3.1.1).
PROBLEM_BASE = "urn:postfach:problem:"


class Problem(Exception):
    """An API error: HTTP status, a short type name, and a human detail."""

    def __init__(self, status: int, kind: str = "", detail: str = "") -> None:
        super().__init__(detail or kind)
        self.status = status
        self.kind = kind
        self.detail = detail


def problem_response(problem: Problem, instance: str = "") -> Response:
    status = HTTPStatus(problem.status)
    body: dict[str, object] = {
        "type": PROBLEM_BASE + problem.kind if problem.kind else "about:blank",
        "title": status.phrase,
        "status": problem.status,
    }
    if problem.detail:
        body["detail"] = problem.detail
    if instance:
        body["instance"] = instance
    headers = {"WWW-Authenticate": 'Bearer realm="postfach"'} if problem.status == 401 else None
    return Response(
        json.dumps(body),
        status_code=problem.status,
        media_type="application/problem+json",
        headers=headers,
    )
