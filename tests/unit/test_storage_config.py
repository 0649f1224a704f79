"""Which storage the tables use: identity-based settings in Azure, a connection string locally."""

from __future__ import annotations

import pytest

from arc_sweeper.tables import table_service_from_settings


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
