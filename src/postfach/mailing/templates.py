"""Campaign templates compiled once, with a fast path for plain substitutions.

Most newsletters use templates made only of text and `{{ name }}`. Jinja2
renders those through a fresh context and a generator each time, which costs
more than the rest of building a message. `compile_template()` parses the
source with Jinja2's own parser; when the tree is nothing but template data and
names (not Jinja2 globals or its special names) it returns a `Substitution`
that joins the pieces directly, with the same result: missing names are empty
(Jinja2's default `Undefined`), values are `str()`-ed, and autoescaping
environments escape them with markupsafe, as Jinja2 does. Anything else
(filters, attribute access, control structures) gets the sandboxed Jinja2
template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

__all__ = ["CompiledTemplate", "Substitution", "compile_template"]

# Names Jinja2 resolves to something other than the variables passed in.
_SPECIAL = frozenset({"self", "loop", "caller", "varargs", "kwargs", "super"})


class CompiledTemplate(Protocol):
    def render(self, variables: Mapping[str, Any], /) -> str: ...


class Substitution:
    """Literal text with `{{ name }}` holes, rendered as Jinja2 would."""

    __slots__ = ("_convert", "_holes", "_parts")

    def __init__(self, parts: list[str], holes: list[tuple[int, str]], autoescape: bool) -> None:
        self._parts = parts
        self._holes = holes
        self._convert: Callable[[Any], str] = escape if autoescape else str

    def render(self, variables: Mapping[str, Any], /) -> str:
        parts = self._parts.copy()
        convert = self._convert
        for index, name in self._holes:
            if name in variables:
                parts[index] = convert(variables[name])
        return "".join(parts)


def compile_template(env: SandboxedEnvironment, source: str) -> CompiledTemplate:
    """The fastest faithful renderer for `source`; raises jinja2.TemplateError."""
    fast = _substitution(env, source)
    return fast if fast is not None else env.from_string(source)


def _substitution(env: SandboxedEnvironment, source: str) -> Substitution | None:
    if not isinstance(env.autoescape, bool) or env.finalize is not None:
        return None
    body = env.parse(source).body
    if not body:
        return Substitution([], [], env.autoescape)
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    parts: list[str] = []
    holes: list[tuple[int, str]] = []
    for node in body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append(node.data)
        elif (
            isinstance(node, nodes.Name)
            and node.ctx == "load"
            and node.name not in env.globals
            and node.name not in _SPECIAL
        ):
            holes.append((len(parts), node.name))
            parts.append("")  # what a missing name renders as
        else:
            return None
    return Substitution(parts, holes, env.autoescape)
