"""Real-time behaviour for benchmarks: service latency, throttle floors, Retry-After compliance."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sim_support import HC_API, MACHINES_QUERY, SUB_A, SUB_E, Api

from local_stack.simulator import ThrottleSettings
from local_stack.simulator.timing import Latency, RetryAfterWatch

ENABLE = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}


def _url(sim, name: str) -> str:
    return f"{next(m for m in sim.fleet.machines if m.name == name).id}?api-version={HC_API}"


def _timed(call) -> tuple[float, object]:
    start = time.monotonic()
    result = call()
    return time.monotonic() - start, result


# --- latency -----------------------------------------------------------------------------------------


def test_latency_is_per_request_and_requests_overlap(make_sim):
    sim = make_sim(latency=Latency(read_s=0.3, write_s=0.6))
    api = Api(sim.base_url)
    read, r = _timed(lambda: api.get(_url(sim, "web-01")))
    write, w = _timed(lambda: api.patch(_url(sim, "web-01"), ENABLE))
    query, q = _timed(lambda: api.query(MACHINES_QUERY))
    assert r.status_code == w.status_code == q.status_code == 200
    assert 0.3 <= read < 0.6 and 0.6 <= write < 1.2 and 0.3 <= query < 0.6
    with ThreadPoolExecutor(8) as pool:  # one sleep per handler thread, not one queue
        elapsed, results = _timed(lambda: list(pool.map(lambda _: Api(sim.base_url).get(_url(sim, "db-01")), range(8))))
    assert all(r.status_code == 200 for r in results) and elapsed < 1.2


def test_no_latency_by_default_and_none_for_throttled_answers(make_sim):
    sim = make_sim(throttling=ThrottleSettings(read_burst=1, read_refill_per_second=0.01))
    api = Api(sim.base_url)
    assert _timed(lambda: api.get(_url(sim, "web-01")))[0] < 0.25
    sim.set_latency(Latency(read_s=0.5))
    elapsed, throttled = _timed(lambda: api.get(_url(sim, "web-01")))
    assert throttled.status_code == 429 and elapsed < 0.25


def test_negative_latency_is_refused():
    with pytest.raises(ValueError):
        Latency(read_s=-1)


# --- throttle floors ---------------------------------------------------------------------------------


def test_throttle_floor_from_the_settings():
    s = ThrottleSettings()
    assert s.arm_floor_seconds(200) == 0 and s.arm_floor_seconds(1200) == 100.0  # 1,000 at 10/s
    assert s.arm_floor_seconds(500, "read") == 10.0  # 250 over at 25/s
    assert s.arg_floor_seconds(15) == 0 and s.arg_floor_seconds(16) == 5.0 and s.arg_floor_seconds(60) == 15.0
    assert s.bucket("write") == (200, 10.0) and s.bucket("read") == (250, 25.0)


def test_throttle_floor_is_what_the_simulator_enforces(make_sim):
    settings = ThrottleSettings(write_burst=3, write_refill_per_second=5.0)
    sim = make_sim(throttling=settings)
    assert sim.throttling == settings
    api = Api(sim.base_url)
    url = _url(sim, "web-01")
    floor = settings.arm_floor_seconds(6)  # 3 at once, then one every 0.2 s
    start, done = time.monotonic(), 0
    while done < 6:  # as fast as the bucket lets it
        r = api.patch(url, ENABLE)
        done += r.status_code == 200
        if r.status_code == 429:
            time.sleep(0.02)
    assert floor == pytest.approx(0.6) and time.monotonic() - start >= floor - 0.05


# --- Retry-After compliance --------------------------------------------------------------------------


def test_requests_before_retry_after_are_flagged_per_caller_and_subscription(make_sim):
    sim = make_sim(throttling=ThrottleSettings(write_burst=1, write_refill_per_second=1.0))
    api, other_caller = Api(sim.base_url), Api(sim.base_url)
    assert api.patch(_url(sim, "web-01"), ENABLE).status_code == 200
    throttled = api.patch(_url(sim, "db-01"), ENABLE)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert api.get(_url(sim, "web-01")).status_code == 200  # a read, but the same subscription: early
    assert api.get(_url(sim, "e-02")).status_code == 200  # another subscription: fine
    assert other_caller.get(_url(sim, "web-01")).status_code == 200  # another caller: fine
    assert sim.early_after_retry_after == 1
    time.sleep(1.05)
    assert api.patch(_url(sim, "db-01"), ENABLE).status_code == 200
    assert sim.early_after_retry_after == 1
    assert [(r.path.split("/")[2], r.status, r.early_after_retry_after) for r in sim.requests] == [
        (SUB_A, 200, False),
        (SUB_A, 429, False),
        (SUB_A, 200, True),
        (SUB_E, 200, False),
        (SUB_A, 200, False),
        (SUB_A, 200, False),
    ]
    sim.reset_log()
    assert sim.early_after_retry_after == 0


def test_resource_graph_retry_after_is_its_own_scope(make_sim):
    sim = make_sim(throttling=ThrottleSettings(arg_quota=1, arg_window_seconds=2.0))
    api = Api(sim.base_url)
    assert api.query(MACHINES_QUERY).status_code == 200
    throttled = api.query(MACHINES_QUERY)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert api.get(_url(sim, "web-01")).status_code == 200  # ARM is another scope
    assert api.query(MACHINES_QUERY).status_code == 429  # too early, and counted
    assert [r.early_after_retry_after for r in sim.requests] == [False, False, False, True]
    assert sim.early_after_retry_after == 1


def test_retry_after_watch_keeps_the_latest_deadline():
    now = [100.0]
    watch = RetryAfterWatch(lambda: now[0])
    key = ("caller", "sub")
    watch.note(key, "5")
    watch.note(key, "1")  # a shorter wait does not shorten the first
    watch.note(key, "Wed, 21 Oct 2026 07:28:00 GMT")  # HTTP-date form: not sent by ARM here, ignored
    now[0] = 104.9
    assert watch.early(key) and not watch.early(("caller", "other"))
    now[0] = 105.0
    assert not watch.early(key)
