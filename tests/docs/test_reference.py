"""The configuration and command references in docs/ against the code: every
config key explained in the README's table and listed in docs/configuration.md,
every command in docs/commands.md, and both files as `make docs` makes them now."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference", ROOT / "tools" / "reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load_reference()


def _section_text(text: str, section: str) -> str:
    match = re.search(rf"^## \[{re.escape(section)}\]\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section [{section}] in docs/configuration.md"
    return match.group(1)


def test_every_config_key_is_explained_in_the_readme_and_listed_in_the_reference():
    meanings = reference.readme_meanings((ROOT / "README.md").read_text(encoding="utf-8"))
    document = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    keys = reference.config_keys()
    assert len(keys) > 50
    unexplained = [f"{s}.{k}" for s, k, _, _ in keys if not meanings.get(f"{s}.{k}", "").strip()]
    assert unexplained == [], "keys without a row in README's configuration table"
    for section, key, default, _ in keys:
        text = _section_text(document, section)
        if key == "*":
            assert f"[{section}]" in text
            continue
        assert f"| `{key}` |" in text, f"{section}.{key}"
        assert f"{key} = {reference.toml_value(default)}" in text, f"{section}.{key} example"


def test_the_readme_explains_no_key_the_code_does_not_have():
    meanings = reference.readme_meanings((ROOT / "README.md").read_text(encoding="utf-8"))
    known = {f"{s}.{k}" for s, k, _, _ in reference.config_keys()}
    assert sorted(set(meanings) - known) == []


def test_every_command_has_its_help_in_the_command_reference():
    document = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    paths = reference.command_paths()
    assert {"postfach serve", "postfach user add", "postfach mailing relay add"} <= set(paths)
    for path in paths:
        assert f"`{path}`" in document, path


@pytest.mark.parametrize("name", ["configuration.md", "commands.md"])
def test_the_references_are_what_make_docs_makes(name):
    made = reference.outputs()[ROOT / "docs" / name]
    assert (ROOT / "docs" / name).read_text(encoding="utf-8") == made, "run `make docs`"
