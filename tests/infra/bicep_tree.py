"""Read Bicep templates with the real Bicep grammar (tree-sitter-bicep), for the infra tests.

The bicep CLI cannot run here, so the templates are checked as parse trees: no syntax
errors, and the properties that matter (no shared keys, exact role actions, ...) read from
the tree rather than matched as text where the tree makes that possible.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser, Tree

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

_PARSER = Parser(Language(tree_sitter_bicep.language()))


def parse_source(source: bytes) -> Tree:
    return _PARSER.parse(source)


@cache
def parse(path: Path) -> Tree:
    return parse_source(path.read_bytes())


def syntax_errors(tree: Tree) -> list[str]:
    """'line:column: ERROR near ...' (1-based) for every ERROR or MISSING node."""
    problems = []
    for node in walk(tree.root_node):
        if node.type == "ERROR" or node.is_missing:
            row, column = node.start_point
            what = f"MISSING {node.type}" if node.is_missing else "ERROR"
            problems.append(f"{row + 1}:{column + 1}: {what} near {node.text[:40].decode(errors='replace')!r}")
    return problems


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: Node) -> str:
    return node.text.decode("utf-8")


def string_value(node: Node | None) -> str | None:
    """The value of a string literal without interpolation; None for anything else."""
    if node is None or node.type != "string" or any(c.type == "interpolation" for c in node.children):
        return None
    parts = []
    for child in node.children:
        if child.type == "string_content":
            parts.append(text(child))
        elif child.type == "escape_sequence":
            parts.append({"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\$": "$"}.get(text(child), text(child)))
    return "".join(parts)


def declarations(tree: Tree, kind: str) -> dict[str, Node]:
    """Top-level declarations by name; kind is parameter, variable, resource, module or output."""
    found = {}
    for node in tree.root_node.children:
        if node.type == f"{kind}_declaration":
            name = next(c for c in node.children if c.type == "identifier")
            found[text(name)] = node
    return found


def body(declaration: Node) -> Node:
    """The object a resource/module/var declares, looking through `if (...)` and `[for ...]`."""
    for node in walk(declaration):
        if node.type == "object":
            return node
    raise AssertionError(f"no object in {text(declaration)[:80]!r}")


def properties(obj: Node) -> dict[str, Node]:
    """Key -> value node of an object literal (keys unquoted)."""
    found = {}
    for child in obj.children:
        if child.type == "object_property":
            key, value = child.children[0], child.children[-1]
            found[string_value(key) if key.type == "string" else text(key)] = value
    return found


def get(obj: Node, *path: str) -> Node:
    """Follow keys through nested object literals."""
    node = obj
    for key in path:
        assert node.type == "object", f"{key}: expected an object, got {node.type} {text(node)[:60]!r}"
        children = properties(node)
        assert key in children, f"no {key!r} among {sorted(children)}"
        node = children[key]
    return node


def resource_type(declaration: Node) -> str:
    literal = next(c for c in declaration.children if c.type == "string")
    return string_value(literal) or ""


def is_existing(declaration: Node) -> bool:
    return any(c.type == "existing" for c in declaration.children)


def calls(root: Node, function: str) -> list[Node]:
    """Every call of `function(...)` under `root`, method-style calls (`x.function()`) included."""
    found = []
    for node in walk(root):
        if node.type == "call_expression":
            callee = node.child_by_field_name("function")
            name = text(callee).rsplit(".", 1)[-1] if callee is not None else ""
            if name == function:
                found.append(node)
    return found


def enclosing_declaration(node: Node) -> Node | None:
    """The nearest resource (including a nested child resource) or declaration around `node`."""
    current = node.parent
    while current is not None and not current.type.endswith("_declaration"):
        current = current.parent
    return current
