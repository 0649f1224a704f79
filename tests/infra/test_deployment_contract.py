"""What the deployment promises, read from the templates' parse trees.

Least privilege, no keys, no secret in outputs, the app settings the code reads, and the
Logic App trigger taking the very schema file the alert tests validate against.
"""

from __future__ import annotations

import json
import re

import pytest
from bicep_tree import (
    BICEP_FILES,
    INFRA,
    ROOT,
    body,
    calls,
    declarations,
    enclosing_declaration,
    get,
    is_existing,
    parse,
    properties,
    resource_type,
    string_value,
    text,
    walk,
)

MAIN = parse(INFRA / "main.bicep")
API = parse(INFRA / "app" / "api.bicep")
ALERTS = parse(INFRA / "app" / "alerts.bicep")
RBAC = parse(INFRA / "app" / "rbac.bicep")
SCOPE_ROLE_FILES = {
    "subscription": INFRA / "scope-roles" / "subscription.bicep",
    "managementGroup": INFRA / "scope-roles" / "management-group.bicep",
}
SCHEMA_FILE = ROOT / "schemas" / "alert-payload.v1.schema.json"

SWEEPER_SETTINGS = {
    "SWEEP_SCHEDULE",
    "SUBSCRIPTION_ALLOW_LIST",
    "SUBSCRIPTION_DENY_LIST",
    "EXCLUSION_TAG",
    "DRY_RUN",
    "FOLLOW_UP_WINDOW",
    "POLL_INTERVAL",
    "HYBRIDCOMPUTE_API_VERSION",
    "TABLE_PREFIX",
    "TASKHUB_NAME",
    "MAX_PARALLEL_WRITES_PER_SUBSCRIPTION",
    "EXTENSION_UPGRADE_MODE",
    "EXTENSION_DENY_LIST",
}
PLATFORM_SETTINGS = {
    "AZURE_CLIENT_ID",
    "LOGIC_APP_WEBHOOK_URL",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_THREADPOOL_THREAD_COUNT",
}
BUILT_IN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
}
TOO_BROAD_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor (can list keys)",
    "cd570a14-e51a-42ad-bac8-bafd67325302": "Azure Connected Machine Resource Administrator",
}


def app_settings() -> dict[str, str]:
    """Every app setting name -> its value expression: api.bicep's own plus main.bicep's sweeperSettings."""
    config = next(
        node
        for node in walk(API.root_node)
        if node.type == "resource_declaration" and "appSettings" in text(node).split("=")[0]
    )
    assert string_value(get(body(config), "name")) == "appsettings"
    settings: dict[str, str] = {}
    for obj in [body(declarations(MAIN, "variable")["sweeperSettings"])] + [
        node for node in get(body(config), "properties").children[1].children if node.type == "object"
    ]:
        settings.update({key: text(value) for key, value in properties(obj).items()})
    return settings


# --- storage and identity -------------------------------------------------------------------


def test_storage_account_refuses_shared_keys():
    params = get(body(declarations(MAIN, "module")["storage"]), "params")
    assert text(get(params, "allowSharedKeyAccess")) == "false"
    assert text(get(params, "allowBlobPublicAccess")) == "false"
    for tree in (MAIN, API, ALERTS, RBAC):
        for name, resource in declarations(tree, "resource").items():
            if resource_type(resource).startswith("Microsoft.Storage/storageAccounts@"):
                assert is_existing(resource), f"{name}: storage accounts are created only by the AVM module"


def test_no_keys_are_listed_anywhere():
    for path in BICEP_FILES:
        assert not calls(parse(path).root_node, "listKeys"), path.name
        assert not re.search(r"listkeys|accountkey|sharedaccesskey", path.read_text(), re.IGNORECASE), path.name


def test_functions_host_storage_is_identity_based():
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert settings["AzureWebJobsStorage__clientId"] == settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert "AzureWebJobsStorage" not in settings, "a connection string would need a key"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "'ClientId=${identityClientId};Authorization=AAD'"


def test_app_settings_include_every_setting_the_sweeper_reads():
    assert set(app_settings()) >= SWEEPER_SETTINGS | PLATFORM_SETTINGS


def test_dry_run_is_on_for_a_first_deployment():
    assert string_value(declarations(MAIN, "parameter")["dryRun"].children[-1]) == "true"
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["dryRun"]["value"] == "${DRY_RUN=true}"


def test_parameter_file_matches_the_template():
    declared = declarations(MAIN, "parameter")
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(declared)
    without_default = {name for name, node in declared.items() if node.children[-2].type != "="}
    assert without_default <= set(given)


def test_function_app_runs_python_311_on_flex_consumption_as_its_identity():
    plan = get(body(declarations(MAIN, "module")["plan"]), "params", "sku")
    assert (string_value(get(plan, "name")), string_value(get(plan, "tier"))) == ("FC1", "FlexConsumption")
    site = body(declarations(API, "resource")["functionApp"])
    assert string_value(get(site, "kind")) == "functionapp,linux"
    assert string_value(get(site, "identity", "type")) == "UserAssigned"
    config = get(site, "properties", "functionAppConfig")
    runtime = get(config, "runtime")
    assert (string_value(get(runtime, "name")), string_value(get(runtime, "version"))) == ("python", "3.11")
    assert string_value(get(config, "deployment", "storage", "type")) == "blobContainer"
    assert string_value(get(config, "deployment", "storage", "authentication", "type")) == "UserAssignedIdentity"
    assert set(properties(get(config, "scaleAndConcurrency"))) >= {"maximumInstanceCount", "instanceMemoryMB"}
    assert "'azd-service-name': 'api'" in text(get(site, "tags"))


def test_application_insights_accepts_only_entra_id_auth():
    params = get(body(declarations(MAIN, "module")["applicationInsights"]), "params")
    assert text(get(params, "disableLocalAuth")) == "true"


# --- roles ----------------------------------------------------------------------------------


def role_ids_in(path) -> set[str]:
    return set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", path.read_text()))


def test_identity_gets_the_data_roles_durable_functions_needs_on_its_own_resources():
    assert role_ids_in(INFRA / "app" / "rbac.bicep") == {
        role for role, name in BUILT_IN_ROLES.items() if name != "Reader"
    }
    for name, resource in declarations(RBAC, "resource").items():
        if resource_type(resource).startswith("Microsoft.Authorization/roleAssignments@"):
            assigned = body(resource)
            assert text(get(assigned, "scope")) in {"storage", "applicationInsights"}, name
            assert string_value(get(assigned, "properties", "principalType")) == "ServicePrincipal"


def test_no_template_grants_a_broad_role():
    for path in BICEP_FILES:
        broad = role_ids_in(path) & set(TOO_BROAD_ROLES)
        assert not broad, f"{path.name}: {[TOO_BROAD_ROLES[r] for r in broad]}"


def test_custom_role_allows_exactly_machines_read_and_write_plus_extensions_for_enable():
    role = json.loads((INFRA / "sweeper-role.json").read_text())
    assert role["actions"] == ["Microsoft.HybridCompute/machines/read", "Microsoft.HybridCompute/machines/write"]
    assert role["extensionActions"] == [
        "Microsoft.HybridCompute/machines/extensions/read",
        "Microsoft.HybridCompute/machines/extensions/write",
    ]
    assert set(role) == {"roleName", "description", "actions", "extensionActions"}


@pytest.mark.parametrize("scope", SCOPE_ROLE_FILES)
def test_scope_roles_use_the_custom_role_and_reader(scope):
    tree = parse(SCOPE_ROLE_FILES[scope])
    assert string_value(target_scope(tree)) == scope
    loaded = declarations(tree, "variable")["sweeperRole"]
    assert "loadJsonContent('../sweeper-role.json')" in text(loaded)
    resources = declarations(tree, "resource")
    definition = body(resources["machineWriterRole"])
    permissions = get(definition, "properties", "permissions")
    [permission] = [node for node in permissions.children if node.type == "object"]
    assert set(properties(permission)) == {"actions", "notActions"}, "no dataActions, no wildcard"
    assert text(get(permission, "actions")) == "sweeperActions"
    actions = text(declarations(tree, "variable")["sweeperActions"])
    assert re.sub(r"\s+", " ", actions).endswith(
        "extensionUpgradeMode == 'enable' ? concat(sweeperRole.actions, sweeperRole.extensionActions)"
        " : sweeperRole.actions"
    ), "extensions only when the mode is enable"
    allowed = text(declarations(tree, "parameter")["extensionUpgradeMode"].prev_sibling)
    assert all(f"'{value}'" in allowed for value in ("off", "report", "enable"))
    assignments = [body(r) for r in resources.values() if "roleAssignments@" in resource_type(r)]
    assigned = sorted(text(get(a, "properties", "roleDefinitionId")) for a in assignments)
    assert len(assigned) == 2 and "machineWriterRole.id" in assigned
    assert any("readerRoleId" in role for role in assigned)
    assert role_ids_in(SCOPE_ROLE_FILES[scope]) == {"acdd72a7-3385-48ef-bd42-f606fba81ae7"}


def target_scope(tree):
    [assignment] = [node for node in tree.root_node.children if node.type == "target_scope_assignment"]
    return assignment.children[-1]


@pytest.mark.parametrize("scope", SCOPE_ROLE_FILES)
def test_the_custom_role_is_named_and_keyed_per_environment(scope):
    """Two azd environments in one subscription each get their own role: removing one keeps the other's."""
    tree = parse(SCOPE_ROLE_FILES[scope])
    assert "environmentName" in declarations(tree, "parameter")
    definition = body(declarations(tree, "resource")["machineWriterRole"])
    assert "environmentName" in text(get(definition, "name"))
    assert "${environmentName}" in text(get(definition, "properties", "roleName"))


def test_the_task_hub_name_is_checked_before_anything_is_made():
    parameter = declarations(MAIN, "parameter")["taskHubName"]
    decorators = text(parameter.prev_sibling)
    assert "@minLength(3)" in decorators and "@maxLength(45)" in decorators
    variables = declarations(MAIN, "variable")
    assert "taskHubNameIsValid" in text(variables["checkedTaskHubName"])
    assert "TASKHUB_NAME: checkedTaskHubName" in text(variables["sweeperSettings"])


def test_main_assigns_scope_roles_only_when_asked_for_the_subscription():
    module = declarations(MAIN, "module")["subscriptionRoles"]
    assert "roleAssignmentScope == 'subscription'" in text(module)
    assert "environmentName: environmentName" in text(module)
    assert "extensionUpgradeMode: extensionUpgradeMode" in text(module)
    allowed = text(declarations(MAIN, "parameter")["roleAssignmentScope"].prev_sibling)
    assert all(f"'{value}'" in allowed for value in ("subscription", "managementGroup", "none"))


# --- the Logic App and its secret URL ---------------------------------------------------------


def test_callback_url_goes_only_into_the_app_settings():
    uses = [(path, node) for path in BICEP_FILES for node in calls(parse(path).root_node, "listCallbackUrl")]
    assert len(uses) == 1
    path, call = uses[0]
    assert path.name == "api.bicep"
    owner = enclosing_declaration(call)
    assert "appSettings" in text(owner).split("=")[0]
    assert app_settings()["LOGIC_APP_WEBHOOK_URL"] == text(call.parent)


def test_no_output_exposes_a_secret():
    for path in BICEP_FILES:
        for name, output in declarations(parse(path), "output").items():
            assert not re.search(
                r"callback|webhook|\bsig\b|keys?\b|connectionstring|secret|password", text(output), re.IGNORECASE
            ), f"{path.name}: output {name}"


def test_trigger_takes_the_committed_schema_file():
    [load] = calls(ALERTS.root_node, "loadJsonContent")
    relative = string_value(load.child_by_field_name("arguments").children[1])
    assert (INFRA / "app" / relative).resolve() == SCHEMA_FILE.resolve()
    assert enclosing_declaration(load) == declarations(ALERTS, "variable")["alertSchema"]
    definition = get(body(declarations(ALERTS, "resource")["workflow"]), "properties", "definition")
    trigger_name = string_value(declarations(ALERTS, "variable")["triggerName"].children[-1])
    trigger = get(definition, "triggers", trigger_name)
    assert (string_value(get(trigger, "type")), string_value(get(trigger, "kind"))) == ("Request", "Http")
    assert text(get(trigger, "inputs", "schema")) == "alertSchema"
    assert string_value(get(trigger, "operationOptions")) == "EnableSchemaValidation"


def test_severity_condition_matches_the_schema():
    severities = json.loads(SCHEMA_FILE.read_text())["properties"]["severity"]["enum"]
    definition = get(body(declarations(ALERTS, "resource")["workflow"]), "properties", "definition")
    parameters = get(definition, "parameters")
    allowed = [
        string_value(n) for n in get(parameters, "minimumSeverity", "allowedValues").children if n.type == "string"
    ]
    assert allowed == severities
    assert set(properties(get(parameters, "severityRank", "defaultValue"))) == set(severities)
    condition = get(definition, "actions", "Severity_at_or_above_minimum")
    assert string_value(get(condition, "type")) == "If"
    assert "minimumSeverity" in text(get(condition, "expression"))


def test_messages_go_through_the_teams_and_outlook_connectors_not_a_retired_webhook():
    variables = declarations(ALERTS, "variable")
    assert "'teams')" in text(variables["teamsApiId"]) and "'office365')" in text(variables["office365ApiId"])
    teams = text(variables["teamsActions"])
    assert "/beta/teams/conversation/message/poster/" in teams and "recipient" in teams
    assert "'/v2/Mail'" in text(variables["emailActions"])
    source = (INFRA / "app" / "alerts.bicep").read_text().lower()
    assert "webhook.office.com" not in source and "incomingwebhook" not in source and "outlook.office.com" not in source


def test_recipients_and_channel_are_parameters():
    declared = declarations(MAIN, "parameter")
    assert {"alertMinimumSeverity", "alertEmailRecipients", "alertTeamsGroupId", "alertTeamsChannelId"} <= set(declared)
    alerts_params = get(body(declarations(MAIN, "module")["alerts"]), "params")
    assert text(get(alerts_params, "emailRecipients")) == "alertEmailRecipients"
    assert text(get(alerts_params, "teamsChannelId")) == "alertTeamsChannelId"


# --- azd --------------------------------------------------------------------------------------


def test_azure_yaml_deploys_this_folder_as_a_python_function_app():
    lines = [line.rstrip() for line in (ROOT / "azure.yaml").read_text().splitlines() if line.strip()]
    service = lines[lines.index("services:") + 1 :]
    assert service[:4] == ["  api:", "    project: .", "    language: python", "    host: function"]


def test_the_worker_has_a_thread_for_every_concurrent_activity():
    """Enabling activities hold a thread while they wait for ARM: fewer threads would bound the sweep instead."""
    host = json.loads((ROOT / "host.json").read_text())
    activities = host["extensions"]["durableTask"]["maxConcurrentActivityFunctions"]
    assert app_settings()["PYTHON_THREADPOOL_THREAD_COUNT"] == f"'{activities}'"
