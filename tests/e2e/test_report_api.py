"""GET /api/sweeps/{runId}/report and GET /api/report: the HTML report served by the app, and linked from alerts."""

from __future__ import annotations

from arc_sweeper.reporting.page import CONTENT_SECURITY_POLICY
from tests.e2e.fleets import mixed_fleet
from tests.e2e.support import store_of, sweep_instances
from tests.e2e.test_http_api import assert_no_secrets
from tests.e2e.test_sweep_end_to_end import ALLOW
from tests.report_html import ReportReader, number


def test_the_report_of_a_run_and_of_the_latest_completed_run(make_stack):
    stack, sim, receiver = make_stack(mixed_fleet(), env={"SUBSCRIPTION_ALLOW_LIST": ALLOW})
    assert stack.get_report().status_code == 404  # no run has completed yet
    stack.fire_timer()
    [run] = sweep_instances(stack)
    assert stack.run_to_completion(run.instance_id).runtime_status == "Completed"

    response = stack.get_report(run.instance_id)
    assert response.status_code == 200 and response.mimetype == "text/html" and response.charset == "utf-8"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert_no_secrets(response)
    html = response.get_body().decode()
    assert receiver.url.split("?")[0] not in html  # not even the webhook's host and path
    report = ReportReader(html)
    recorded = store_of(stack).get_run(run.instance_id)
    assert number(report.headline["Machines seen"]) == recorded.machines_seen
    assert number(report.headline["Enable failed"]) == recorded.result_counts["failed"]
    assert number(report.headline["Upgrades stuck"]) == recorded.outcome_counts["stuck"]
    assert report.tables["follow-up-table"].body  # the follow-up's days were recorded on the way

    latest = stack.get_report()
    assert latest.status_code == 200 and f"Arc agent sweep {run.instance_id}" in latest.get_body().decode()
    report_urls = {payload["links"]["reportUrl"] for payload in receiver.payloads}
    assert report_urls == {f"http://127.0.0.1:7071/api/sweeps/{run.instance_id}/report"}


def test_an_unknown_or_malformed_run_id(make_stack):
    stack, sim, receiver = make_stack(mixed_fleet())
    assert stack.get_report("daily-2001-01-01").status_code == 404
    assert stack.get_report("../etc").status_code == 400
