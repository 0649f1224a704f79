"""Importing function_app registers the triggers, orchestrators and activities by name."""

from __future__ import annotations

import ast
import inspect

import pytest

import orchestrators.sweep


@pytest.fixture(scope="module")
def functions():
    import function_app

    function_app.app.functions_bindings = None  # get_functions() is not idempotent (python-worker#1867)
    return {f.get_function_name(): f for f in function_app.app.get_functions()}


def test_timer_trigger_schedule_comes_from_the_setting(functions):
    trigger = functions["daily_sweep"].get_trigger()
    assert trigger.type == "timerTrigger"
    assert trigger.schedule == "%SWEEP_SCHEDULE%"
    assert not trigger.run_on_startup
    assert "durableClient" in [b.type for b in functions["daily_sweep"].get_bindings()]


def test_http_routes_for_on_demand_sweeps(functions):
    start = functions["start_sweep"].get_trigger()
    assert (start.type, start.route, [str(m) for m in start.methods]) == ("httpTrigger", "sweeps", ["POST"])
    status = functions["get_sweep"].get_trigger()
    assert (status.route, [str(m) for m in status.methods]) == ("sweeps/{runId}", ["GET"])
    for name in ("start_sweep", "get_sweep"):
        assert str(functions[name].get_trigger().auth_level) in ("FUNCTION", "AuthLevel.FUNCTION")


def test_html_report_routes(functions):
    routes = {name: functions[name].get_trigger() for name in ("get_sweep_report", "get_latest_report")}
    assert {name: (t.route, [str(m) for m in t.methods]) for name, t in routes.items()} == {
        "get_sweep_report": ("sweeps/{runId}/report", ["GET"]),
        "get_latest_report": ("report", ["GET"]),
    }
    assert all(str(t.auth_level) in ("FUNCTION", "AuthLevel.FUNCTION") for t in routes.values())


def test_orchestrators_and_activities_are_registered(functions):
    kinds = {name: f.get_trigger().type for name, f in functions.items()}
    for name in ("sweep_orchestrator", "enable_subscription_orchestrator", "follow_up_orchestrator"):
        assert kinds[name] == "orchestrationTrigger"
    for name in (
        "start_run",
        "discover_machines",
        "enable_machines",
        "check_cohort",
        "finish_enabling",
        "finish_run",
        "record_failure",
    ):
        assert kinds[name] == "activityTrigger"


def test_orchestrators_call_registered_functions_by_object_never_by_name(functions):
    """A name string would fail only at run time after a rename; a function object fails at import."""
    tree = ast.parse(inspect.getsource(orchestrators.sweep))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith("call_")
        and node.args
    ]
    assert calls and not [c for c in calls if isinstance(c.args[0], ast.Constant)]
    called = {c.args[0].id for c in calls if isinstance(c.args[0], ast.Name)}
    assert called >= {
        "start_run",
        "discover_machines",
        "enable_machines",
        "check_cohort",
        "enable_subscription_orchestrator",
        "follow_up_orchestrator",
    }
    assert called <= set(functions)
