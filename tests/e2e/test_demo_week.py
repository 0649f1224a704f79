"""`make demo`, shortened: daily sweeps on the virtual clock, follow-ups alongside, the report and the trend."""
from __future__ import annotations

from local_stack.demo import run_demo
from tests.report_html import ReportReader, number


def test_two_demo_days_print_the_trend_and_write_the_first_run_s_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_demo(machines=200, subscriptions=4, seed=7, follow_up="P3D", poll_interval="P1D", days=2) == 0
    out = capsys.readouterr().out
    week = out.split("The week's daily sweeps:")[1].splitlines()[1:3]
    first, second = (line.split()[0] for line in week)
    assert first.startswith("daily-") and first < second
    trend = out.split("The estate's trend per day")[1].splitlines()[2:4]
    assert [line.split()[0] for line in trend] == [first[6:], second[6:]]
    report = ReportReader((tmp_path / ".demo" / "report.html").read_text(encoding="utf-8"))
    assert report.tables["trend-table"].column("Run") == [first, second]
    assert [number(n) for n in report.tables["trend-table"].column("Enabled")] == [
        int(line.split()[4]) for line in trend]
    assert "report.html" in out.splitlines()[-2]
