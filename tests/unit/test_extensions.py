"""Extension data as Azure may send it, and the supported-types list as an operator may write it."""

from __future__ import annotations

import json

import pytest

from arc_sweeper.extensions import (
    SupportedExtensions,
    SupportedExtensionsError,
    extension_from_row,
    parse_extension_version,
)
from arc_sweeper.settings import Settings

MACHINE = (
    "/subscriptions/aaaaaaaa-0000-4000-8000-000000000001/resourceGroups/rg-é/providers/"
    "Microsoft.HybridCompute/machines/srv-01"
)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.22.0", (1, 22, 0)),
        ("9.10.5.0", (9, 10, 5, 0)),
        ("2", (2,)),
        (" 1.2 ", (1, 2)),
        ("", None),
        ("1.2.3-preview", None),
        ("latest", None),
        ("1..2", None),
        ("1.2.3.4.5", None),
    ],
)
def test_extension_versions_parse_only_when_plainly_numeric(text, parsed):
    assert parse_extension_version(text) == parsed


def test_a_row_with_odd_values_is_kept_as_text():
    snapshot = extension_from_row(
        {
            "id": f"{MACHINE}/extensions/AMA",
            "name": "AMA",
            "subscriptionId": "AAAAAAAA-0000-4000-8000-000000000001",
            "version": 1.5,
            "autoUpgrade": "True",
            "publisher": None,
        }
    )
    assert snapshot.version == "1.5" and snapshot.auto_upgrade is True and snapshot.publisher == ""
    assert snapshot.subscription_id == "aaaaaaaa-0000-4000-8000-000000000001"
    assert snapshot.machine_id == MACHINE.lower()
    assert extension_from_row({"id": "not an id", "autoUpgrade": "maybe"}).auto_upgrade is None
    assert extension_from_row({"id": "not an id"}).machine_id == ""


def test_failed_means_provisioning_failed_or_an_error_status_in_any_case():
    row = {"id": f"{MACHINE}/extensions/AMA"}
    assert extension_from_row({**row, "provisioningState": "FAILED"}).failed
    assert extension_from_row({**row, "statusLevel": "error"}).failed
    assert not extension_from_row({**row, "provisioningState": "Succeeded", "statusLevel": "Info"}).failed


def test_the_bundled_list_names_every_family_the_issue_lists():
    supported = SupportedExtensions.load()
    for publisher, kind in [
        ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"),
        ("microsoft.azure.keyvault", "keyvaultforwindows"),
        ("Microsoft.CPlat.Core", "WindowsOsUpdateExtension"),
        ("Microsoft.Azure.Security", "IaaSAntimalware"),
        ("Microsoft.AzureData", "WindowsAgent.SqlServer"),
    ]:
        assert supported.supports(publisher, kind), (publisher, kind)
    assert not supported.supports("Microsoft.Compute", "CustomScriptExtension")


def test_an_operator_list_replaces_the_bundled_one(tmp_path):
    path = tmp_path / "supported.json"
    path.write_text(json.dumps({"extensions": [{"publisher": "Contoso", "type": "Inventory"}]}))
    settings = Settings.from_env(
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "SUPPORTED_EXTENSIONS_FILE": str(path)}
    )
    assert settings.supported_extensions.supports("contoso", "INVENTORY")
    assert not settings.supported_extensions.supports("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "cannot read it as JSON"),
        ('{"extensions": []}', 'expected {"extensions"'),
        ('{"extensions": [{"publisher": "Contoso"}]}', "extensions[0]: needs a publisher and a type"),
        ('{"extensions": [{"publisher": " ", "type": "x"}]}', "extensions[0]: needs a publisher and a type"),
    ],
)
def test_a_malformed_list_fails_naming_the_entry(tmp_path, content, problem):
    path = tmp_path / "supported.json"
    path.write_text(content)
    with pytest.raises(SupportedExtensionsError, match="supported.json") as raised:
        SupportedExtensions.load(str(path))
    assert problem in raised.value.problem
