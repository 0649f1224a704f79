"""`python -m arc_sweeper sweep|status|show` as an operator runs it: a real process against the simulator.

The simulator runs in the test process on a virtual clock that starts at the real time, so
the agents' days can pass between two commands while the CLI itself reads the real clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from arc_sweeper.credentials import DevelopmentCredential, credential_for
from local_stack.clock import VirtualClock
from local_stack.simulator import FleetSimulator
from tests.e2e.fleets import SUB_A, SUB_B, mixed_fleet
from tests.e2e.support import compliant, to_enable
from tests.report_html import ReportReader, number

ROOT = Path(__file__).resolve().parents[2]


def operator(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arc_sweeper", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def estate(azurite, table_prefix):
    """Five machines to enable and one compliant one, on a clock that starts now."""
    from local_stack.simulator.fleet import Fleet, Subscription

    start = datetime.now(UTC)
    machines = [to_enable(SUB_A, "rg-app", f"vm-{i}") for i in range(5)] + [compliant(SUB_A, "rg-app", "ok")]
    fleet = Fleet([Subscription(SUB_A, "App")], machines, created_at=start)
    clock = VirtualClock(start)
    with FleetSimulator(fleet, clock) as sim:
        env = {
            **os.environ,
            "ARM_ENDPOINT": sim.base_url,
            "AzureWebJobsStorage": azurite.connection_string,
            "TABLE_PREFIX": table_prefix,
            "LOGIC_APP_WEBHOOK_URL": "",
            "SUBSCRIPTION_ALLOW_LIST": "",
            "FOLLOW_UP_WINDOW": "P3D",
            "POLL_INTERVAL": "PT12H",
        }
        yield sim, clock, env


def patches(sim) -> Counter:
    return Counter(r.path for r in sim.requests if r.method == "PATCH")


def test_sweep_without_apply_sends_no_patch(estate):
    sim, clock, env = estate
    result = operator(["sweep", "--json", "-"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dry run: add --apply" in result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and report["result_counts"] == {"dry_run": 5}
    assert patches(sim) == Counter()


def test_sweep_with_apply_enables_then_status_follows_up_later(estate, tmp_path):
    sim, clock, env = estate
    result = operator(["sweep", "--apply", "--json", "-"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    run_id = report["run_id"]
    assert run_id.startswith("cli-") and report["trigger"] == "cli" and report["status"] == "following"
    assert report["result_counts"] == {"enabled": 5} and report["outcome_counts"] == {"pending": 5}
    assert f"python -m arc_sweeper status {run_id}" in result.stderr
    sent = patches(sim)
    assert len(sent) == 5 and set(sent.values()) == {1}

    clock.advance_to(clock.now() + timedelta(days=2))  # the agents' nights pass
    later = operator(["status", run_id], env)
    assert later.returncode == 0, later.stderr[-2000:]
    assert f"Run {run_id} (cli, writes on): completed" in later.stdout
    assert "upgraded" in later.stdout and "pending" not in later.stdout.split("Follow-up outcomes")[1]
    assert patches(sim) == sent  # following up never writes

    page = tmp_path / "report.html"
    shown = operator(["show", run_id, "--machines", "upgraded", "--html", str(page)], env)
    assert shown.returncode == 0 and "Machines with 'upgraded': 5" in shown.stdout
    report = ReportReader(page.read_text(encoding="utf-8"))
    assert number(report.headline["Automatic upgrade enabled"]) == 5 and number(report.headline["Machines seen"]) == 6
    assert f"HTML report of {run_id} written to {page}" in shown.stderr


def test_an_unknown_run_and_bad_options_are_refused_with_a_reason(estate):
    sim, clock, env = estate
    assert "no run 'cli-nope'" in operator(["status", "cli-nope"], env).stderr
    refused = operator(["sweep", "--follow-up", "soon"], env)
    assert refused.returncode == 2 and "--follow-up" in refused.stderr
    missing_storage = operator(["show"], {**env, "AzureWebJobsStorage": ""})
    assert missing_storage.returncode == 2 and "AzureWebJobsStorage" in missing_storage.stderr


def test_development_token_only_for_loopback():
    assert isinstance(credential_for("http://127.0.0.1:8080"), DevelopmentCredential)
    assert not isinstance(credential_for("https://management.azure.com"), DevelopmentCredential)
    with pytest.raises(PermissionError):
        DevelopmentCredential().get_token("https://management.azure.com/.default")
    assert DevelopmentCredential().get_token("http://127.0.0.1:8080/.default").token


def test_show_reads_a_run_left_in_an_azurite_folder(tmp_path, table_prefix):
    from local_stack.runner import LocalStack

    fleet = mixed_fleet()
    clock = VirtualClock(fleet.created_at)
    with FleetSimulator(fleet, clock) as sim:
        env = {
            "ARM_ENDPOINT": sim.base_url,
            "TABLE_PREFIX": table_prefix,
            "SUBSCRIPTION_ALLOW_LIST": SUB_A,
            "DRY_RUN": "true",
            "LOGIC_APP_WEBHOOK_URL": "",
        }
        with LocalStack(env, clock=clock, azurite_location=str(tmp_path)) as stack:
            stack.fire_timer()
            run_id = stack.host.instances()[0].instance_id
            assert stack.run_to_completion(run_id).runtime_status == "Completed"

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "local_stack",
            "show",
            "--location",
            str(tmp_path),
            "--prefix",
            table_prefix,
            "--machines",
            "too_old_for_auto_upgrade",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"Run {run_id} (timer, dry run): completed" in result.stdout
    assert "manual_upgrade_needed" in result.stdout
    assert "too_old_for_auto_upgrade: Agent is older than the minimum version" in result.stdout
    assert "Machines with 'too_old_for_auto_upgrade': 1" in result.stdout and "/machines/too-old" in result.stdout
    assert SUB_B not in result.stdout
