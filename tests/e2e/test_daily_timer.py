"""The daily timer on the stack's virtual clock: one run a simulated day, follow-ups alongside."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from arc_sweeper.clock import utc_now
from tests.e2e.fleets import START
from tests.e2e.support import QUICK_FOLLOW_UP, simple_fleet, store_of, sweep_instances

SUB = "aaaaaaaa-0000-4000-8000-000000000001"


def test_each_simulated_day_gets_its_own_daily_run_while_earlier_follow_ups_go_on(make_stack):
    stack, sim, receiver = make_stack(simple_fleet({SUB: 3}), env=QUICK_FOLLOW_UP)
    assert abs(utc_now() - START) < timedelta(minutes=1)  # the product reads the stack's clock

    stack.fire_timer()
    next_day = datetime.combine(START.date() + timedelta(days=1), time(3, 30), UTC)
    stack.host.run_until_time(next_day)
    assert stack.host.clock.now() >= next_day
    stack.fire_timer()

    first, second = sorted(i.instance_id for i in sweep_instances(stack))
    assert (first, second) == (f"daily-{START:%Y-%m-%d}", f"daily-{next_day:%Y-%m-%d}")
    assert stack.host.status(first).runtime_status == "Running"  # still following when the next day starts
    assert stack.run_to_completion(first).runtime_status == "Completed"
    assert stack.run_to_completion(second).runtime_status == "Completed"
    store = store_of(stack)
    assert store.get_run(first).started_at.startswith(f"{START:%Y-%m-%d}")
    assert store.get_run(second).started_at.startswith(f"{next_day:%Y-%m-%d}")
    assert store.get_run(second).cohort_size == 0  # the first day enabled them all


def test_the_stack_gives_the_wall_clock_back_when_it_closes(make_stack):
    stack, sim, receiver = make_stack(simple_fleet({SUB: 1}))
    stack.__exit__(None, None, None)
    assert abs(utc_now() - datetime.now(UTC)) < timedelta(seconds=5)
