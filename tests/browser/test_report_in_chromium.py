"""The HTML report as a person sees it: opened in headless Chromium, every chart drawn, no console error.

The screenshot stays in tests/artifacts/ (not committed). Needs Debian's `chromium`; .ci/run
installs it, and under CI a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arc_sweeper.reporting.page import load_page, render_page
from tests.browser.chromium import Chromium, chromium_path
from tests.report_tables import DAY_1, recorded_tables

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

CHARTS = """
[...document.querySelectorAll('figure.chart svg')].map(svg => {
  const box = svg.getBoundingClientRect();
  const plot = svg.querySelector('g.plot:not(.overlay):not(.text-overlay):not(.tooltip-overlay)');
  const drawn = m => m.tagName !== 'rect' || parseFloat(m.getAttribute('height')) > 0;
  const marks = (_, i) => [...svg.querySelectorAll(`g.serie-${i} rect, g.serie-${i} circle, g.serie-${i} path.line`)]
      .filter(drawn).length;
  return {label: svg.getAttribute('aria-label'), width: box.width, height: box.height,
          describedBy: svg.getAttribute('aria-describedby'),
          legend: [...svg.querySelectorAll('.legends .legend text')].map(t => t.textContent),
          marks: [...plot.querySelectorAll(':scope > g.series')].map(marks)};
})
"""


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    with Chromium(executable) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    page = load_page(recorded_tables(), DAY_1, generated_at="2026-11-23T08:00:00Z")
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_page(page), encoding="utf-8")
    return path


def test_every_chart_is_drawn_with_its_series_and_nothing_goes_wrong(browser, report_file):
    browser.open(report_file.as_uri())
    charts = {chart["label"]: chart for chart in browser.evaluate(CHARTS)}
    assert list(charts) == [
        "Agent versions in use, by release",
        "Findings (a machine may have several)",
        "Follow-up outcomes at the end of each day",
        "Compliant share of machines seen",
        "Enabled, failing, stuck and new machines per run",
    ]
    for chart in charts.values():
        assert chart["width"] > 600 and chart["height"] > 200, chart
        assert browser.evaluate(f"!!document.getElementById('{chart['describedBy']}')"), chart
    versions = charts["Agent versions in use, by release"]
    assert versions["legend"] == ["Supported", "Out of support", "Too old for automatic upgrade", "Version unreadable"]
    assert all(versions["marks"]), versions  # every support class draws at least one bar
    assert charts["Findings (a machine may have several)"]["marks"] == [5]  # five findings in the run
    follow_up = charts["Follow-up outcomes at the end of each day"]
    assert follow_up["legend"] == ["upgraded", "pending", "upgrade_failed", "stuck"] and all(follow_up["marks"])
    share = charts["Compliant share of machines seen"]
    assert share["marks"] == [3]  # its line and a dot for each of the two runs
    trend = charts["Enabled, failing, stuck and new machines per run"]
    assert trend["legend"] == ["enabled", "failing", "stuck", "new"] and sum(trend["marks"]) == 5
    assert browser.evaluate("document.querySelectorAll('script').length") == 0
    assert browser.problems == []


def test_the_screenshot_is_kept_as_a_test_artifact(browser, report_file):
    browser.open(report_file.as_uri())
    png = browser.screenshot(ARTIFACTS / "report.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 50_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == 1280 and height > 2000  # the whole page, not only the window
    assert browser.problems == []
