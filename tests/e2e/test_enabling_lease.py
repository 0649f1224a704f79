"""The enabling lease on Azurite: renewed by every enabling call without contention, lost to a
sweep that took the scope after ours ran out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from arc_sweeper.tables import SweepStore

SUB_A = "aaaaaaaa-0000-4000-8000-000000000001"
SUB_B = "bbbbbbbb-0000-4000-8000-000000000002"
START = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
TTL = timedelta(hours=6)


def leases(azurite, table_prefix):
    store = SweepStore.from_connection_string(azurite.connection_string, table_prefix)
    store.create_tables()
    return store.leases


def test_thirty_two_enabling_calls_renew_at_once_without_contention(azurite, table_prefix):
    lease = leases(azurite, table_prefix)
    assert lease.acquire("daily", (), START, TTL) is None
    late = START + timedelta(hours=4)  # under half the lease left: the first renewal swaps, the rest read
    swap, written = lease._swap, []

    def counted(holders, etag):
        done = swap(holders, etag)
        written.append(done)
        return done

    lease._swap = counted
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda _: lease.renew("daily", late, TTL), range(32)))
    assert answers == [None] * 32
    assert written.count(True) == 1, written
    assert lease.holds("daily", late + timedelta(hours=5))  # renewed: held until 10 h after START
    assert lease.acquire("http-1", (SUB_A,), late, TTL) == "daily"


def test_a_renewal_of_a_lease_held_long_enough_reads_only_the_guard_row(azurite, table_prefix):
    """A thousand subscriptions' calls renew at once: the scope row (up to a thousand ids) is not read by each."""
    lease = leases(azurite, table_prefix)
    assert lease.acquire("daily", [f"{n:08d}-0000-4000-8000-000000000000" for n in range(1000)], START, TTL) is None
    scope_of, scopes_read = lease._scope_of, []

    def counted(run_id):
        scopes_read.append(run_id)
        return scope_of(run_id)

    lease._scope_of = counted
    assert lease.renew("daily", START + timedelta(hours=1), TTL) is None
    assert scopes_read == []
    assert lease.renew("daily", START + timedelta(hours=4), TTL) is None  # under half left: renewed on its scope
    assert scopes_read == ["daily"]
    assert lease.holds("daily", START + timedelta(hours=9))


def test_a_lease_that_ran_out_and_was_taken_is_lost(azurite, table_prefix):
    lease = leases(azurite, table_prefix)
    assert lease.acquire("stalled", (SUB_A,), START, TTL) is None
    after = START + TTL + timedelta(minutes=1)
    assert lease.acquire("next", (SUB_A, SUB_B), after, TTL) is None  # ours ran out: the next sweep takes it
    assert lease.renew("stalled", after, TTL) == "next"


def test_a_lease_that_ran_out_and_nobody_took_is_taken_again_on_its_scope(azurite, table_prefix):
    lease = leases(azurite, table_prefix)
    assert lease.acquire("slow", (SUB_A,), START, TTL) is None
    after = START + TTL + timedelta(minutes=1)
    assert lease.renew("slow", after, TTL) is None
    assert lease.acquire("other", (SUB_B,), after, TTL) is None  # its scope is still SUB_A only
    assert lease.acquire("third", (SUB_A,), after, TTL) == "slow"
