"""The ARM client's guards, against a real HTTP server on loopback."""

from __future__ import annotations

import pytest

from arc_sweeper.arm import Arm, ArmError
from arc_sweeper.credentials import DevelopmentCredential
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
