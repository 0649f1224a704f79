"""Resource Graph rows and paging guards, through the real azure-mgmt-resourcegraph client."""

from __future__ import annotations

import pytest

from arc_sweeper.credentials import DevelopmentCredential
from arc_sweeper.resource_graph import GraphQueryError, ResourceGraph, machine_from_row
from tests.loopback import loopback_server

MACHINE = (
    "/subscriptions/0000000a-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m"
)


def test_odd_rows_are_kept_as_seen():
    row = {
        "id": MACHINE,
        "name": "m",
        "subscriptionId": "0000000A-0000-0000-0000-000000000000",
        "autoUpgrade": "True",
        "agentVersion": 1.58,
        "tags": ["not", "a", "map"],
        "status": None,
    }
    machine = machine_from_row(row)
    assert machine.auto_upgrade is True
    assert machine.agent_version == "1.58" and machine.status == "" and machine.tags == {}
    assert machine.subscription_id == "0000000a-0000-0000-0000-000000000000"
    assert machine_from_row({}).id == "" and machine_from_row({"autoUpgrade": "maybe"}).auto_upgrade is None


def test_a_repeating_skip_token_stops_paging():
    page = {
        "totalRecords": 5,
        "count": 1,
        "resultTruncated": "false",
        "$skipToken": "same",
        "data": [{"id": MACHINE, "name": "m"}],
        "facets": [],
    }
    requests = []

    def answer(method, path, headers):
        requests.append(path)
        return 200, {}, page

    with loopback_server(answer) as url:
        graph = ResourceGraph(url, DevelopmentCredential())
        with pytest.raises(GraphQueryError, match="same \\$skipToken"):
            list(graph.find_machines(["0000000a-0000-0000-0000-000000000000"]))
    assert len(requests) == 2


def test_a_truncated_page_without_a_skip_token_fails_the_query():
    page = {"totalRecords": 5000, "count": 1, "resultTruncated": "true", "data": [{"id": MACHINE}], "facets": []}
    with loopback_server(lambda method, path, headers: (200, {}, page)) as url:
        graph = ResourceGraph(url, DevelopmentCredential())
        with pytest.raises(GraphQueryError, match="resultTruncated"):
            list(graph.find_machines(["0000000a-0000-0000-0000-000000000000"]))
