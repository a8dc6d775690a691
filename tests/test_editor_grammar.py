"""The VS Code extension's TextMate grammars, checked from Python (CI also runs their
vscode-tmgrammar-test files and builds the .vsix when Node is there): the manifests are
valid JSON that name the files they use, every keyword of the policy language is
highlighted, and every rule head of the example policies is recognised as one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from policylang.parser import KEYWORDS

VSCODE = Path(__file__).resolve().parent.parent / "editors" / "vscode"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def grammar(name: str) -> dict[str, object]:
    document: dict[str, object] = json.loads((VSCODE / "syntaxes" / name).read_text())
    return document


def patterns(node: object) -> list[str]:
    """Every `match`/`begin` regex in a grammar."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(patterns(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(patterns(item))
    return found


def test_the_manifest_names_existing_grammars_and_configuration() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text())
    contributes = manifest["contributes"]
    for entry in contributes["grammars"]:
        assert grammar(Path(entry["path"]).name)["scopeName"] == entry["scopeName"]
    for language in contributes["languages"]:
        config = json.loads((VSCODE / language["configuration"]).read_text())
        assert config["comments"]["lineComment"] == "#"
    assert {e for lang in contributes["languages"] for e in lang["extensions"]} == {".pol", ".polt"}
    assert (VSCODE / manifest["main"]).is_file()


def test_every_policy_keyword_is_highlighted() -> None:
    words = set()
    for regex in patterns(grammar("policylang.tmLanguage.json")):
        words.update(re.findall(r"[a-z_]+", regex))
    missing = sorted(k for k in KEYWORDS if k not in words)
    assert missing == [], f"add these keywords to editors/vscode/syntaxes/policylang.tmLanguage.json: {missing}"


def test_every_rule_head_of_the_examples_is_recognised() -> None:
    head = re.compile(grammar("policylang.tmLanguage.json")["repository"]["rule-head"]["match"])  # type: ignore[index]
    rules = re.compile(r"^(cap|capacity|quiet|exclude|require|exclusive|exempt)\s")
    for path in EXAMPLES.glob("*.pol"):
        for line in path.read_text().splitlines():
            if rules.match(line):
                found = head.match(line)
                assert found is not None and found.group(2), (path, line)
