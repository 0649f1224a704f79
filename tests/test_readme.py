"""The README stays true to the code: its settings table is the settings module's table."""

from __future__ import annotations

import re
from pathlib import Path

from arc_sweeper.settings import SETTINGS_TABLE

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_settings_table_lists_every_setting_with_its_default():
    rows = dict(re.findall(r"^\| `([A-Za-z_]+)` \| (.*?) \|", README, flags=re.MULTILINE))
    expected = {name: f"`{default}`" if default else "(empty)" for name, default, _ in SETTINGS_TABLE}
    assert rows == expected


def test_the_two_commands_are_documented_and_exist_in_the_makefile():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text(encoding="utf-8")
    for command in ("demo", "test"):
        assert f"make {command}" in README
        assert re.search(rf"^{command}:", makefile, flags=re.MULTILINE)
