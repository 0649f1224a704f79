"""Every template parses with the real Bicep grammar, and every JSON file parses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bicep_tree import BICEP_FILES, INFRA, ROOT, parse, parse_source, syntax_errors

JSON_FILES = sorted(INFRA.rglob("*.json")) + sorted((ROOT / "schemas").glob("*.json"))


def test_the_deployment_is_all_there():
    names = {path.relative_to(INFRA).as_posix() for path in BICEP_FILES}
    assert names == {
        "main.bicep",
        "app/api.bicep",
        "app/alerts.bicep",
        "app/rbac.bicep",
        "scope-roles/subscription.bicep",
        "scope-roles/management-group.bicep",
    }
    assert (ROOT / "azure.yaml").is_file() and (INFRA / "main.parameters.json").is_file()


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_template_has_no_syntax_errors(path: Path):
    problems = syntax_errors(parse(path))
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_the_check_itself_reports_where_a_template_is_broken():
    broken = (
        b"param name string\nresource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
        b"  name: \n  location: 'x'\n"
    )
    problems = syntax_errors(parse_source(broken))
    assert problems and all(re.match(r"\d+:\d+: ", problem) for problem in problems)


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_json_file_parses(path: Path):
    assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)


def test_every_local_module_and_loaded_file_exists():
    for path in BICEP_FILES:
        source = path.read_text(encoding="utf-8")
        for reference in re.findall(r"module \w+ '([^':]+\.bicep)'", source):
            assert (path.parent / reference).is_file(), f"{path.name}: module {reference} not found"
        for reference in re.findall(r"load(?:Json|Text)Content\('([^']+)'\)", source):
            assert (path.parent / reference).is_file(), f"{path.name}: {reference} not found"


def test_registry_modules_are_verified_modules_pinned_to_a_version():
    references = [ref for path in BICEP_FILES for ref in re.findall(r"'(br[:/][^']+)'", path.read_text())]
    assert references
    for reference in references:
        assert re.fullmatch(r"br/public:avm/res/[a-z-]+/[a-z-]+:\d+\.\d+\.\d+", reference), reference
