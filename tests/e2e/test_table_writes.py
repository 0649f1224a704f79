"""Writes of many partitions on Azurite: transactions sent several at once, every row written, a failure raised."""

from __future__ import annotations

import threading

import pytest
from azure.data.tables import TableTransactionError

from arc_sweeper.records import FleetRecord
from arc_sweeper.tables import TRANSACTIONS_IN_FLIGHT, SweepStore

SUBSCRIPTIONS = [f"{n:08x}-0000-4000-8000-{n:012x}" for n in range(1, 6)]


def machine(subscription_id: str, n: int, name: str = "") -> FleetRecord:
    return FleetRecord(
        f"/subscriptions/{subscription_id}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m{n}",
        subscription_id,
        name or f"m{n}",
    )


class InFlight:
    """Wraps a table's submit_transaction: counts transactions in flight, and the most at once."""

    def __init__(self, table) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()
        self._submit = table.submit_transaction
        table.submit_transaction = self

    def __call__(self, operations, **options):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return self._submit(operations, **options)
        finally:
            with self._lock:
                self.now -= 1


@pytest.fixture
def store(azurite, table_prefix) -> SweepStore:
    store = SweepStore.from_connection_string(azurite.connection_string, table_prefix)
    store.create_tables()
    return store


def test_several_partitions_of_several_transactions_are_all_written(store):
    in_flight = InFlight(store._fleet)
    rows = [machine(s, n) for s in SUBSCRIPTIONS for n in range(250)]  # 5 partitions x 3 transactions
    store.put_fleet([*rows, machine(SUBSCRIPTIONS[0], 7, name="renamed")])  # a later row of a key wins

    for subscription_id in SUBSCRIPTIONS:
        fleet = store.fleet(subscription_id)
        assert sorted(fleet) == sorted(r.row_key for r in rows if r.subscription_id == subscription_id)
        names = {r.name for r in fleet.values()}
        assert names == (
            {f"m{n}" for n in range(250) if n != 7} | {"renamed"}
            if subscription_id == SUBSCRIPTIONS[0]
            else {f"m{n}" for n in range(250)}
        )
    assert 1 < in_flight.most <= TRANSACTIONS_IN_FLIGHT


def test_a_failed_transaction_is_raised_once_every_started_one_has_finished(store):
    in_flight = InFlight(store._fleet)
    good = [machine(s, n) for s in SUBSCRIPTIONS[:3] for n in range(150)]  # 6 transactions
    bad = [machine("bad/partition", n) for n in range(3)]  # "/" is not allowed in a key

    with pytest.raises(TableTransactionError):
        store.put_fleet([*good, *bad])

    assert in_flight.now == 0
    for subscription_id in SUBSCRIPTIONS[:3]:  # all 7 were in flight at once: the good ones are written
        assert len(store.fleet(subscription_id)) == 150


def test_one_transaction_is_sent_on_the_callers_thread(store):
    threads = set()
    submit = store._fleet.submit_transaction
    store._fleet.submit_transaction = lambda operations, **options: (
        threads.add(threading.get_ident()),
        submit(operations, **options),
    )

    store.put_fleet(machine(SUBSCRIPTIONS[0], n) for n in range(100))

    assert threads == {threading.get_ident()}
    assert len(store.fleet(SUBSCRIPTIONS[0])) == 100
