"""The README's fault-campaign figures are the campaign's: as many faults as there are fault cases, and zeros
that assert_campaign_invariants enforces on every one of them."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {
    "faults tried": None,  # the number of fault cases
    "machines lost": 0,
    "duplicate PATCHes": 0,
    "whole-run failures caused by one bad part": 0,
}


def fault_cases() -> list[str]:
    listing = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider",
                              "tests/faults"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if "/test_fault_" in line and "::" in line]


def test_the_readme_states_the_campaigns_figures():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Fault campaign", 1)[1].split("\n## ", 1)[0]
    stated = {name: int(number) for name, number in re.findall(r"\*\*([^*]+?):\s*(\d+)\*\*", section)}
    assert stated == {**FIGURES, "faults tried": len(fault_cases())}
