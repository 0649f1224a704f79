"""Fault injection, token buckets and quota windows, and the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest
from sim_support import HC_API, MACHINES_QUERY, Api, StaticCredential, new_token

from local_stack.simulator import FaultSettings, ThrottleSettings
from local_stack.simulator.__main__ import _faults, _latency
from local_stack.simulator.throttling import QuotaWindow, TokenBucket, format_resets_after
from local_stack.simulator.timing import Latency

ROOT = Path(__file__).resolve().parents[2]


def test_machine_get_fault_rate(make_sim):
    sim = make_sim(throttling=ThrottleSettings(read_burst=10_000))  # no 429s in the count
    api = Api(sim.base_url)
    web = next(m for m in sim.fleet.machines if m.name == "web-01")
    sim.set_faults(machine_get=0.3)
    results = [api.get(f"{web.id}?api-version={HC_API}") for _ in range(400)]
    failed = [r for r in results if r.status_code >= 500]
    assert 85 <= len(failed) <= 155  # 120 expected; binomial sd ~9
    assert {r.status_code for r in failed} == {500, 503}
    assert {r.json()["error"]["code"] for r in failed} == {"InternalServerError", "ServiceUnavailable"}
    assert any("Retry-After" in r.headers for r in failed)
    assert all(r.status_code == 200 for r in results if r not in failed)
    sim.set_faults(machine_get=0.0)
    assert all(api.get(f"{web.id}?api-version={HC_API}").status_code == 200 for _ in range(50))


def test_patch_faults_change_nothing(make_sim):
    sim = make_sim(faults=FaultSettings(patch=1.0))
    api = Api(sim.base_url)
    web = next(m for m in sim.fleet.machines if m.name == "web-01")
    body = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}
    assert api.patch(f"{web.id}?api-version={HC_API}", body).status_code in (500, 503)
    assert sim.changes == [] and sim.patches() == []
    assert api.get(f"{web.id}?api-version={HC_API}").status_code == 200  # other kinds unaffected
    sim.set_faults(FaultSettings())
    assert api.patch(f"{web.id}?api-version={HC_API}", body).status_code == 200


def test_arg_and_subscription_faults(make_sim):
    sim = make_sim(faults=FaultSettings(arg=1.0, subscriptions=1.0))
    api = Api(sim.base_url)
    r = api.query("resources | project id")
    assert r.status_code in (500, 503) and "x-ms-user-quota-remaining" in r.headers
    assert api.get("/subscriptions?api-version=2022-12-01").status_code in (500, 503)
    client = ResourceGraphClient(StaticCredential(new_token()), base_url=sim.base_url, retry_total=0)
    with pytest.raises(HttpResponseError) as info:
        client.resources(QueryRequest(query="resources | project id"), enforce_https=False)
    assert info.value.status_code in (500, 503)


def test_truncated_resource_graph_page_loses_rows(make_sim):
    sim = make_sim(faults=FaultSettings(arg_truncated=1.0))
    api = Api(sim.base_url)
    body = api.query(MACHINES_QUERY, **{"$top": 3}).json()
    assert body["resultTruncated"] == "true" and "$skipToken" not in body
    assert body["count"] == len(body["data"]) == 3 and body["totalRecords"] > 3  # the rest is lost
    whole = api.query(MACHINES_QUERY, **{"$top": 1000}).json()  # one page: nothing to lose
    assert whole["resultTruncated"] == "false" and whole["count"] == whole["totalRecords"]
    sim.set_faults(arg_truncated=0.0)
    body = api.query(MACHINES_QUERY, **{"$top": 3}).json()
    assert body["resultTruncated"] == "false" and body["$skipToken"]


def test_faults_are_seeded(make_sim):
    def pattern(seed):
        sim = make_sim(faults=FaultSettings(machine_get=0.5), fault_seed=seed)
        api = Api(sim.base_url)
        web = next(m for m in sim.fleet.machines if m.name == "web-01")
        return [api.get(f"{web.id}?api-version={HC_API}").status_code for _ in range(30)]

    assert pattern(3) == pattern(3) != pattern(4)


def test_invalid_fault_rate():
    with pytest.raises(ValueError):
        FaultSettings(arg=1.5)
    with pytest.raises(ValueError):
        FaultSettings(arg_truncated=-0.1)


def test_command_line_fault_names():
    assert _faults("arg=0.1,arg_truncated=0.5") == FaultSettings(arg=0.1, arg_truncated=0.5)
    with pytest.raises(Exception, match="unknown fault kind"):
        _faults("nonsense=1")
    assert _latency("read=0.02,write=0.05") == Latency(read_s=0.02, write_s=0.05)
    with pytest.raises(Exception, match="unknown latency kind"):
        _latency("delete=1")


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_token_bucket_refills_on_monotonic_time():
    clock = FakeTime()
    bucket = TokenBucket(3, 2.0, clock)
    assert [bucket.take()[0] for _ in range(4)] == [True, True, True, False]
    assert bucket.take()[2] == 1  # half a second to the next token, rounded up
    clock.now += 0.5
    assert bucket.take()[:2] == (True, 0)
    clock.now += 100
    assert bucket.take() == (True, 2, 0)  # capped at capacity


def test_quota_window():
    clock = FakeTime()
    window = QuotaWindow(2, 5.0, clock)
    assert window.take() == (True, 1, 5.0)
    clock.now += 1
    assert window.take() == (True, 0, 4.0)
    assert window.take() == (False, 0, 4.0)
    clock.now += 4
    assert window.take() == (True, 1, 5.0)
    assert format_resets_after(4.2) == "00:00:05" and format_resets_after(3725) == "01:02:05"


def test_command_line_serves_a_fleet():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local_stack.simulator",
            "--machines",
            "40",
            "--subscriptions",
            "3",
            "--seed",
            "5",
            "--port",
            "0",
            "--start",
            "2026-08-15T12:00:00Z",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        headers = {"Authorization": "Bearer cli"}
        subs = requests.get(base_url + "/subscriptions?api-version=2022-12-01", headers=headers, timeout=10).json()
        assert 1 <= len(subs["value"]) <= 3
        r = requests.post(
            base_url + "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
            headers=headers,
            json={"query": "resources | where type =~ 'microsoft.hybridcompute/machines' | project id"},
            timeout=10,
        )
        assert r.status_code == 200 and 0 < r.json()["totalRecords"] <= 40
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.stderr.close()
