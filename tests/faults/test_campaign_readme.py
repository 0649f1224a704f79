"""The README's fault-campaign figures are the campaign's: as many faults as there are fault cases, and zeros
that assert_campaign_invariants enforces on every one of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {
    "faults tried": None,  # the number of fault cases
    "machines lost": 0,
    "duplicate PATCHes": 0,
    "whole-run failures caused by one bad part": 0,
}


def fault_cases(session: pytest.Session) -> list[str]:
    """The fault cases of this session, when it collected every fault module (else the check is skipped)."""
    every_module = {p.name for p in Path(__file__).parent.glob("test_fault_*.py")}
    cases = [item for item in session.items if item.path.name in every_module]
    if {item.path.name for item in cases} != every_module or session.config.option.keyword:
        pytest.skip("only part of the campaign was collected")
    return [item.nodeid for item in cases]


def test_the_readme_states_the_campaigns_figures(request):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Fault campaign", 1)[1].split("\n## ", 1)[0]
    stated = {name: int(number) for name, number in re.findall(r"\*\*([^*]+?):\s*(\d+)\*\*", section)}
    assert stated == {**FIGURES, "faults tried": len(fault_cases(request.session))}
