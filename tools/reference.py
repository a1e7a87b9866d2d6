"""docs/configuration.md and docs/commands.md, made from what the code knows.

The keys, their types and defaults come from the configuration dataclasses
(`postfach.config.Config`); what each key means comes from the README's
configuration table, the one place a person writes it; the commands come from
the CLI's own argparse parser and its `--help` texts. `make docs` writes both
files; tests/docs checks that they are current and that no key goes unexplained.

    python tools/reference.py          # write docs/configuration.md, docs/commands.md
    python tools/reference.py --check  # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import typing
from pathlib import Path

from postfach.cli.main import build_parser
from postfach.config import Config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
HELP_WIDTH = "100"  # argparse wraps help at $COLUMNS: fixed, so the output is stable

_ROW = re.compile(r"^\|\s*(`[^|]*`(?:\s*[,/]\s*`[^|]*`)*)\s*\|\s*([^|]*?)\s*\|\s*(.*?)\s*\|$")
_NAME = re.compile(r"`([^`]+)`")


def config_keys() -> list[tuple[str, str, object, str]]:
    """Every key of the configuration file: (section, key, default, type) in the
    order the dataclasses declare them; the two tables ([transport],
    [public_ports]) as a section of their own with key ``*``."""
    keys: list[tuple[str, str, object, str]] = []
    hints = typing.get_type_hints(Config)
    for section in dataclasses.fields(Config):
        if section.name in {"source", "dev"}:
            continue
        kind = hints[section.name]
        if dataclasses.is_dataclass(kind):
            defaults = kind()
            section_hints = typing.get_type_hints(kind)
            for key in dataclasses.fields(kind):
                keys.append(
                    (section.name, key.name, getattr(defaults, key.name),
                     _type_name(section_hints[key.name]))
                )  # fmt: skip
        else:
            keys.append((section.name, "*", {}, _type_name(kind)))
    return keys


def _type_name(kind: object) -> str:
    origin = typing.get_origin(kind)
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(kind)[0])}"
    if origin is dict:
        key, value = typing.get_args(kind)
        return f"table of {_type_name(key)} → {_type_name(value)}"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        kind,  # type: ignore[call-overload]
        str(kind),
    )


def readme_meanings(text: str) -> dict[str, str]:
    """`section.key` → meaning, from the README's configuration table, where one
    row may name several keys (`auth.max_failures`, `failure_window`) or a table
    (`[transport]`)."""
    meanings: dict[str, str] = {}
    for line in text.splitlines():
        row = _ROW.match(line.strip())
        if not row:
            continue
        section = ""
        for name in _NAME.findall(row.group(1)):
            if name.startswith("[") and name.endswith("]"):
                meanings[f"{name[1:-1]}.*"] = row.group(3)
                continue
            if "." in name:
                section, _, name = name.partition(".")
            if section:
                meanings[f"{section}.{name.lstrip(':')}"] = row.group(3)
    return meanings


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


def configuration_md(meanings: dict[str, str]) -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Made by `make docs` (tools/reference.py) from the configuration classes",
        "     in src/postfach/config.py and the README's table; edit those, not this. -->",
        "",
        "postfach reads one TOML file: `--config FILE`, else `$POSTFACH_CONFIG`, else",
        "`./postfach.toml`; `postfach init` writes one. Every key has a default; an",
        "unknown key or a bad value stops start-up with one line naming the key and",
        "the file. Relative paths are relative to the config file. A listener set to",
        '`""` is off.',
    ]
    by_section: dict[str, list[tuple[str, object, str]]] = {}
    for section, key, default, kind in config_keys():
        by_section.setdefault(section, []).append((key, default, kind))
    for section, entries in by_section.items():
        lines += ["", f"## [{section}]", ""]
        if entries[0][0] == "*":
            meaning = meanings.get(f"{section}.*", "")
            example = {
                "transport": '"example.net" = "127.0.0.1:2526"',
                "public_ports": "imaps = 993\nsubmissions = 465",
            }.get(section, "")
            lines += [meaning, "", "```toml", f"[{section}]", example, "```"]
            continue
        lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for key, default, kind in entries:
            meaning = meanings.get(f"{section}.{key}", "")
            lines.append(f"| `{key}` | {kind} | `{toml_value(default)}` | {meaning} |")
        lines += ["", "```toml", f"[{section}]"]
        lines += [f"{key} = {toml_value(default)}" for key, default, _ in entries]
        lines.append("```")
    return "\n".join(lines) + "\n"


def _commands(
    parser: argparse.ArgumentParser, path: list[str]
) -> list[tuple[list[str], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _commands(child, [*path, name])
    return found


def command_paths() -> list[str]:
    return [" ".join(path) for path, _ in _commands(build_parser(), ["postfach"])]


def commands_md() -> str:
    os.environ["COLUMNS"] = HELP_WIDTH
    lines = [
        "# Command reference",
        "",
        "<!-- Made by `make docs` (tools/reference.py) from the CLI's own `--help`;",
        "     edit the help texts in src/postfach/cli/, not this. -->",
        "",
        "Every command takes `--config FILE` (default: `$POSTFACH_CONFIG`, then",
        "`./postfach.toml`) and `--help`. Errors are one line on standard error and",
        "exit status 1 (2 for a usage error).",
    ]
    for path, parser in _commands(build_parser(), ["postfach"]):
        lines += ["", f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`", "", "```text"]
        lines += [line.rstrip() for line in parser.format_help().rstrip().splitlines()]
        lines.append("```")
    return "\n".join(lines) + "\n"


def outputs() -> dict[Path, str]:
    meanings = readme_meanings(README.read_text(encoding="utf-8"))
    return {
        DOCS / "configuration.md": configuration_md(meanings),
        DOCS / "commands.md": commands_md(),
    }


def main(argv: list[str]) -> int:
    stale = [path for path, text in outputs().items() if not path.exists()
             or path.read_text(encoding="utf-8") != text]  # fmt: skip
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    DOCS.mkdir(exist_ok=True)
    for path, text in outputs().items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
