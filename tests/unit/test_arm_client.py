"""The ARM client's guards, against a real HTTP server on loopback."""

from __future__ import annotations

import socket
import threading

import pytest

from arc_sweeper.arm import Arm, ArmError
from arc_sweeper.credentials import DevelopmentCredential
from arc_sweeper.http_pipeline import HttpLimits
from arc_sweeper.throttling import WriteBudget, WriteGate
from tests.loopback import loopback_server


@pytest.fixture
def pages():
    """Serves pages from a dict path -> body; records the Authorization headers seen."""
    served: dict[str, dict] = {}
    seen: list[str] = []

    def answer(method, path, headers):
        seen.append(headers.get("Authorization", ""))
        return 200, {}, served.get(path.split("?")[0], {})

    with loopback_server(answer) as url:
        yield served, seen, url


def item(n: int) -> dict:
    return {"subscriptionId": f"0000000{n}-0000-0000-0000-000000000000", "displayName": f"S{n}", "state": "Enabled"}


def test_next_links_are_followed(pages):
    served, seen, base = pages
    served["/subscriptions"] = {"value": [item(1)], "nextLink": f"{base}/page2?api-version=2022-12-01"}
    served["/page2"] = {"value": [item(2)]}
    arm = Arm(base, DevelopmentCredential(), hybridcompute_api_version="2025-01-13")
    assert [s.display_name for s in arm.list_subscriptions()] == ["S1", "S2"]
    assert seen == ["Bearer local-development-token"] * 2


def test_a_next_link_to_another_host_is_refused_before_the_token_goes_there(pages):
    served, seen, base = pages
    served["/subscriptions"] = {"value": [item(1)], "nextLink": "http://127.0.0.2:1/steal?x=1"}
    arm = Arm(base, DevelopmentCredential(), hybridcompute_api_version="2025-01-13")
    with pytest.raises(ArmError) as error:
        list(arm.list_subscriptions())
    assert error.value.code == "ForeignNextLink"
    assert len(seen) == 1


def test_a_repeating_next_link_stops(pages):
    served, seen, base = pages
    served["/subscriptions"] = {"value": [item(1)], "nextLink": f"{base}/again"}
    served["/again"] = {"value": [item(2)], "nextLink": f"{base}/again"}
    arm = Arm(base, DevelopmentCredential(), hybridcompute_api_version="2025-01-13")
    with pytest.raises(ArmError) as error:
        list(arm.list_subscriptions())
    assert error.value.code == "RepeatedNextLink"


def test_plain_http_to_a_remote_host_is_refused():
    with pytest.raises(ValueError, match="https"):
        Arm("http://management.example.com", DevelopmentCredential(), hybridcompute_api_version="2025-01-13")


def test_a_patch_that_gets_no_answer_frees_its_place_at_the_write_gate():
    """ARM accepts the connection and closes it without answering: the PATCH's outcome is unknown, and the
    subscription's write gate must not go on counting it in flight (nothing else could then be sent)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def hang_up() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection.recv(65536))
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    limits = HttpLimits(retries=1, backoff_s=0.01, backoff_max_s=0.01, read_timeout_s=1.0, deadline_s=5.0)
    arm = Arm(base, DevelopmentCredential(), hybridcompute_api_version="2025-01-13", limits=limits)
    gate = WriteGate(WriteBudget(tokens=5, reported=True), max_wait_s=1)
    machine = (
        "/subscriptions/00000001-0000-0000-0000-000000000000/resourceGroups/rg"
        "/providers/Microsoft.HybridCompute/machines/m"
    )
    try:
        outcome = arm.enable_automatic_upgrade(machine, gate)
    finally:
        listener.close()
    assert not outcome.succeeded and outcome.http_status is None and len(accepted) == 2  # sent, retried once
    assert gate.state().tokens == 3  # each attempt may have cost ARM a token
    for _ in range(2):  # nothing left in flight: two more go at once on three tokens (one to spare)
        gate.before_send()
