"""Which storage the tables use: identity-based settings in Azure, a connection string locally."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
from azure.core.exceptions import AzureError

from arc_sweeper import tables
from arc_sweeper.tables import table_service_from_settings
from local_stack.azurite import DEVSTORE_ACCOUNT, DEVSTORE_KEY


def test_identity_based_settings_win_over_a_connection_string():
    env = {
        "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net/",
        "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000000",
    }
    service = table_service_from_settings("UseDevelopmentStorage=true", env)
    assert service.url.startswith("https://acct.table.core.windows.net")
    assert service.credential.__class__.__name__ == "DefaultAzureCredential"


def test_account_name_alone_is_enough():
    service = table_service_from_settings("", {"AzureWebJobsStorage__accountName": "acct"})
    assert service.url.startswith("https://acct.table.core.windows.net")


def test_connection_string_locally():
    service = table_service_from_settings("UseDevelopmentStorage=true", {})
    assert "127.0.0.1:10002" in service.url


def test_nothing_configured_names_the_setting():
    with pytest.raises(ValueError, match="AzureWebJobsStorage"):
        table_service_from_settings("", {})


def test_the_table_client_applies_the_storage_timeouts(monkeypatch):
    """STORAGE_TIMEOUTS reach the client: with a short read timeout, a write to a storage endpoint that
    accepts and then says nothing fails within it (without them it would wait azure-core's 300 s)."""
    monkeypatch.setattr(tables, "STORAGE_TIMEOUTS", {"connection_timeout": 0.5, "read_timeout": 0.5})
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    accepting = threading.Thread(target=lambda: _accept_forever(silent, held), daemon=True)
    accepting.start()
    port = silent.getsockname()[1]
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={DEVSTORE_ACCOUNT};AccountKey={DEVSTORE_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{DEVSTORE_ACCOUNT};"
    )
    outcome: list[object] = []

    def write() -> None:
        client = table_service_from_settings(connection, {}).get_table_client("silent")
        try:
            client.upsert_entity({"PartitionKey": "p", "RowKey": "r"})
            outcome.append("answered")
        except AzureError as error:
            outcome.append(error)

    started = time.monotonic()
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(timeout=60)
    try:
        assert not writer.is_alive(), "the write still waits after 60 s: no read timeout reached the client"
        assert isinstance(outcome[0], AzureError), outcome
        assert time.monotonic() - started < 60
    finally:
        silent.close()
        for connection_held in held:
            connection_held.close()


def _accept_forever(server, held) -> None:
    """Accept every connection and never answer (keep it open, so the client waits for a reply)."""
    with contextlib.suppress(OSError):
        while True:
            connection, _ = server.accept()
            held.append(connection)
