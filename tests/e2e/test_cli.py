"""`python -m local_stack sweep` against an ARM endpoint in another process, with the real clock."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arc_sweeper.credentials import DevelopmentCredential, credential_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def simulator_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack.simulator", "--machines", "40", "--subscriptions", "2", "--seed", "3",
         "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_cli_sweep_writes_a_json_report(simulator_process, azurite, table_prefix):
    env = {**os.environ, "AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix,
           "LOGIC_APP_WEBHOOK_URL": "", "SUBSCRIPTION_ALLOW_LIST": ""}
    result = subprocess.run(
        [sys.executable, "-m", "local_stack", "sweep", "--arm-endpoint", simulator_process,
         "--follow-up", "4s", "--poll-interval", "2s", "--json", "-"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    run = report["run"]
    assert report["orchestration"] == "Completed"
    assert run["trigger"] == "cli" and run["run_id"].startswith("cli-")
    assert run["result_counts"].get("enabled", 0) > 0
    # Real clock: four seconds is far too short for an agent to upgrade, so the cohort is still pending.
    assert run["outcome_counts"].get("pending", 0) == run["result_counts"]["enabled"]
    assert "Follow-up outcomes" in result.stderr


def test_cli_rejects_bad_options_with_a_reason():
    result = subprocess.run([sys.executable, "-m", "local_stack", "sweep", "--follow-up", "soon"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--follow-up" in result.stderr


def test_development_token_only_for_loopback():
    assert isinstance(credential_for("http://127.0.0.1:8080"), DevelopmentCredential)
    assert not isinstance(credential_for("https://management.azure.com"), DevelopmentCredential)
    with pytest.raises(PermissionError):
        DevelopmentCredential().get_token("https://management.azure.com/.default")
    assert DevelopmentCredential().get_token("http://127.0.0.1:8080/.default").token


def test_show_reads_a_run_left_in_an_azurite_folder(tmp_path, table_prefix):
    from local_stack.clock import VirtualClock
    from local_stack.runner import LocalStack
    from local_stack.simulator import FleetSimulator
    from tests.e2e.fleets import SUB_A, mixed_fleet

    fleet = mixed_fleet()
    clock = VirtualClock(fleet.created_at)
    with FleetSimulator(fleet, clock) as sim:
        env = {"ARM_ENDPOINT": sim.base_url, "TABLE_PREFIX": table_prefix, "SUBSCRIPTION_ALLOW_LIST": SUB_A,
               "DRY_RUN": "true", "LOGIC_APP_WEBHOOK_URL": ""}
        with LocalStack(env, clock=clock, azurite_location=str(tmp_path)) as stack:
            stack.fire_timer()
            run_id = stack.host.instances()[0].instance_id
            assert stack.run_to_completion(run_id).runtime_status == "Completed"

    result = subprocess.run(
        [sys.executable, "-m", "local_stack", "show", "--location", str(tmp_path), "--prefix", table_prefix,
         "--machines", "too_old_for_auto_upgrade"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"Run {run_id} (timer, dry run): completed" in result.stdout
    assert "manual_upgrade_needed" in result.stdout
    assert "too_old_for_auto_upgrade: Agent is older than the minimum version" in result.stdout
    assert "Machines with 'too_old_for_auto_upgrade': 1" in result.stdout and "/machines/too-old" in result.stdout
