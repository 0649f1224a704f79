"""Paging, subscription batching and the Durable Functions size limits (a design check, not a benchmark)."""

from __future__ import annotations

import math
from collections import Counter

from arc_sweeper.resource_graph import EXTENSIONS_QUERY, MACHINES_QUERY
from local_stack.simulator.fleet import Fleet, Subscription
from local_stack.simulator.resource_graph import read_skip_token
from tests.e2e.fleets import START
from tests.e2e.support import QUICK_FOLLOW_UP, arg_requests, compliant, guid, machine_entities, store_of, to_enable

# Event types whose payloads cross the orchestration boundary (DTFx EventType).
EXECUTION_STARTED, EXECUTION_COMPLETED, TASK_SCHEDULED, TASK_COMPLETED = 0, 1, 4, 5
SUB_CREATED, SUB_COMPLETED = 7, 8
PAYLOAD_FIELDS = {
    EXECUTION_STARTED: "Input",
    EXECUTION_COMPLETED: "Result",
    TASK_SCHEDULED: "Input",
    TASK_COMPLETED: "Result",
    SUB_CREATED: "Input",
    SUB_COMPLETED: "Result",
}
MAX_ACTIVITY_PAYLOAD = 45 * 1024
MAX_HISTORY = 5000


def discovery_requests(sim) -> list:
    """Resource Graph requests before the first PATCH: discovery ends before enabling starts."""
    first_patch = next(i for i, r in enumerate(sim.requests) if r.method == "PATCH")
    before = {id(r) for r in sim.requests[:first_patch]}
    return [r for r in arg_requests(sim) if id(r) in before]


def test_every_page_of_every_batch_is_read(make_stack):
    """2,001 machines in the first batch of two subscriptions: three pages of at most 1,000."""
    subs = [guid(n) for n in range(1, 6)]
    sizes = dict(zip(subs, (1001, 1000, 3, 3, 3), strict=True))
    total = sum(sizes.values())
    picks = {(subs[0], 5), (subs[0], 1000), (subs[1], 999), (subs[4], 1)}  # pages 1, 2 and 3; batch 3
    machines = [
        (to_enable if (sub, i) in picks else compliant)(sub, "rg-fleet", f"m-{i:04d}")
        for sub, count in sizes.items()
        for i in range(count)
    ]
    fleet = Fleet([Subscription(s, f"Sub {i}") for i, s in enumerate(subs)], machines, created_at=START)
    stack, sim, receiver = make_stack(fleet, env={**QUICK_FOLLOW_UP, "RESOURCE_GRAPH_BATCH_SIZE": "2"})
    stack.fire_timer()
    [run] = stack.host.instances()
    final = stack.run_to_completion(run.instance_id)
    assert final.runtime_status == "Completed", final.error

    # Every machine exactly one row, with the right classification.
    entities = machine_entities(stack, run.instance_id)
    assert len(entities) == total
    assert len({(e["PartitionKey"], e["RowKey"]) for e in entities}) == total
    assert {e["resource_id"].lower() for e in entities} == {m.id.lower() for m in machines}
    assert Counter(e["action"] for e in entities) == {"none": total - 4, "enable_auto_upgrade": 4}
    store = store_of(stack)
    assert {s.subscription_id: (s.batch_index, s.machines) for s in store.subscriptions(run.instance_id)} == {
        sub: (i // 2, sizes[sub]) for i, sub in enumerate(subs)
    }
    assert sorted(r.path.rsplit("/", 1)[1] for r in sim.patches()) == sorted(f"m-{i:04d}" for _, i in picks)
    assert store.get_run(run.instance_id).outcome_counts == {"upgraded": 4}

    # Discovery: three batches (2 + 2 + 1 subscriptions); the first read in three pages. Each batch's
    # extensions (none here) take one more query over the same subscriptions.
    requests = discovery_requests(sim)
    assert all(r.status == 200 for r in requests)
    extension_queries = [r for r in requests if r.body["query"] == EXTENSIONS_QUERY]
    assert [r.body["subscriptions"] for r in extension_queries] == [subs[0:2], subs[2:4], subs[4:]]
    requests = [r for r in requests if r.body["query"] == MACHINES_QUERY]
    by_batch: dict[tuple, list] = {}
    for r in requests:
        assert r.body["options"]["$top"] == 1000
        assert r.body["subscriptions"] == sorted(r.body["subscriptions"])
        by_batch.setdefault(tuple(r.body["subscriptions"]), []).append(r)
    assert set(by_batch) == {tuple(subs[0:2]), tuple(subs[2:4]), (subs[4],)}
    tokens = [(r.body["options"].get("$skipToken"), r.body["query"]) for r in by_batch[tuple(subs[0:2])]]
    offsets = [read_skip_token(token, query) if token else None for token, query in tokens]
    assert offsets == [None, 1000, 2000]
    assert [len(by_batch[key]) for key in (tuple(subs[2:4]), (subs[4],))] == [1, 1]
    # Follow-up re-reads only the subscriptions with open rows, paging again where needed.
    assert all(len(r.body["subscriptions"]) <= 2 and r.body["options"]["$top"] == 1000 for r in arg_requests(sim))


def test_many_subscriptions_stay_within_durable_limits(make_stack):
    """60 subscriptions x 10 machines, 25 subscriptions per Resource Graph request.

    The costs that grow with the estate are measured and extrapolated to the issue's
    50,000 machines in 500 subscriptions (and 299 subscriptions per batch, the most the
    setting allows), which must stay under 5,000 history events and 45 KB per payload.
    """
    n_subs, per_sub, enable_per_sub, batch = 60, 10, 3, 25
    subs = [guid(1000 + n) for n in range(n_subs)]
    machines = [
        to_enable(sub, "rg", f"vm-{i}") if i < enable_per_sub else compliant(sub, "rg", f"vm-{i}")
        for sub in subs
        for i in range(per_sub)
    ]
    fleet = Fleet([Subscription(s, f"Sub {i}") for i, s in enumerate(subs)], machines, created_at=START)
    stack, sim, receiver = make_stack(
        fleet, env={**QUICK_FOLLOW_UP, "RESOURCE_GRAPH_BATCH_SIZE": str(batch), "ENABLE_BATCH_SIZE": "2"}
    )
    stack.fire_timer()
    [run] = stack.host.instances()
    final = stack.run_to_completion(run.instance_id, timeout_s=240)
    assert final.runtime_status == "Completed", final.error
    run_row = store_of(stack).get_run(run.instance_id)
    cohort = n_subs * enable_per_sub
    assert (run_row.batch_count, run_row.machines_seen, run_row.cohort_size) == (3, n_subs * per_sub, cohort)
    assert run_row.outcome_counts == {"upgraded": cohort}
    assert len(sim.patches()) == cohort == len({r.path for r in sim.patches()})

    # Resource Graph: per batch one request for the machines and one for their extensions (each < 1,000 rows).
    discovery = discovery_requests(sim)
    assert len(discovery) == 6 <= 2 * (math.ceil(n_subs * per_sub / 1000) + 3)
    assert sorted(len(r.body["subscriptions"]) for r in discovery) == [10, 10, 25, 25, 25, 25]
    assert sorted(r.body["query"] == EXTENSIONS_QUERY for r in discovery) == [False] * 3 + [True] * 3

    # History: no per-machine events anywhere; per-subscription cost small enough for 500.
    instances = stack.host.instances()
    sweep = next(i for i in instances if i.name == "sweep_orchestrator")
    enables = [i for i in instances if i.name == "enable_subscription_orchestrator"]
    assert len(enables) == n_subs
    per_subscription = sweep.max_history_length / n_subs
    assert per_subscription * 500 < MAX_HISTORY, sweep.max_history_length
    for info in instances:
        if info is not sweep:
            assert info.max_history_length < 100, (info.instance_id, info.max_history_length)
    # A subscription's chunks run one after another (two each here): the cost per chunk must
    # allow 50,000 machines in a single subscription, 500 chunks at the default 100 a chunk.
    per_chunk = max(i.max_history_length for i in enables) / 2
    assert per_chunk * 500 < MAX_HISTORY, per_chunk
    assert all(
        len([e for e in stack.host.history(i.instance_id) if e["EventType"] == TASK_SCHEDULED]) == 2 for i in enables
    )

    # Payloads: measured on every event that carries an input or output.
    largest: dict[str, int] = {}
    for info in instances:
        history = stack.host.history(info.instance_id)
        names = {e["EventId"]: e["Name"] for e in history if e["EventType"] in (TASK_SCHEDULED, SUB_CREATED)}
        for event in history:
            field = PAYLOAD_FIELDS.get(event["EventType"])
            if field is None or event.get(field) is None:
                continue
            name = event.get("Name") or names.get(event.get("TaskScheduledId"), info.name)
            key = f"{name}:{field.lower()}"
            largest[key] = max(largest.get(key, 0), len(event[field].encode()))
    assert {
        "discover_machines:result",
        "enable_machines:input",
        "enable_machines:result",
        "enable_subscription_orchestrator:input",
        "check_cohort:result",
    } <= set(largest)
    assert max(largest.values()) < MAX_ACTIVITY_PAYLOAD, largest
    # The only payload that grows with the estate is a discovery batch's result (one entry
    # per subscription with work): at 299 subscriptions per batch it must still fit.
    discovered = largest["discover_machines:result"]
    assert discovered / batch * 299 < MAX_ACTIVITY_PAYLOAD, largest
    others = {k: v for k, v in largest.items() if k != "discover_machines:result"}
    assert max(others.values()) < 2048, others
