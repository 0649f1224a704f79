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
