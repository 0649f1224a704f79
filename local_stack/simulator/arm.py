"""ARM routes: subscriptions, Hybrid Compute machines and their extensions.

Error codes and messages follow what ARM returns (reference §3, §9, §11), so the
product's error handling is tested against the real shapes.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from local_stack.simulator.extensions import Extension
from local_stack.simulator.fleet import Machine, Subscription, name_key
from local_stack.simulator.props import MISSING, Recorder, set_property
from local_stack.simulator.wire import ArmError, Request, Response

if TYPE_CHECKING:
    from local_stack.simulator.server import FleetSimulator

SUBSCRIPTION_API_VERSIONS = ("2016-06-01", "2019-11-01", "2020-01-01", "2021-01-01", "2022-12-01")
#: Versions that predate `agentUpgrade` (reference §2): served without it, and a PATCH ignores it.
LEGACY_API_VERSIONS = ("2020-08-02", "2021-05-20", "2022-03-10", "2022-11-10")
HYBRIDCOMPUTE_API_VERSIONS = LEGACY_API_VERSIONS + (
    "2022-12-27-preview",
    "2022-12-27",
    "2023-03-15-preview",
    "2023-06-20-preview",
    "2023-10-03-preview",
    "2024-03-31-preview",
    "2024-05-20-preview",
    "2024-07-10",
    "2024-07-31-preview",
    "2024-09-10-preview",
    "2024-11-10-preview",
    "2025-01-13",
    "2025-02-19-preview",
    "2025-06-01",
    "2026-06-16-preview",
    "2026-07-15",
)
MACHINE_TYPE = "Microsoft.HybridCompute/machines"
EXTENSION_TYPE = "Microsoft.HybridCompute/machines/extensions"
WRITABLE_PROPERTIES = (
    "locationData",
    "osProfile",
    "cloudMetadata",
    "agentUpgrade",
    "parentClusterResourceId",
    "privateLinkScopeResourceId",
    "identityKeyStore",
    "tpmEkCertificate",
)
WRITABLE_AGENT_UPGRADE = ("desiredVersion", "correlationId", "enableAutomaticUpgrade")


# --- errors -----------------------------------------------------------------------------------------


def _forbidden(sim: FleetSimulator, action: str, scope: str) -> ArmError:
    oid = sim.caller_object_id
    return ArmError(
        403,
        "AuthorizationFailed",
        f"The client '{oid}' with object id '{oid}' does not have authorization to perform action "
        f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
        f"please refresh your credentials.",
    )


def _subscription_not_found(subscription_id: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")


def _machine_not_found(resource_group: str, name: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{MACHINE_TYPE}/{name}' under resource group '{resource_group}' was not found. "
        f"For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def _parent_not_found(name: str) -> ArmError:
    """ARM's answer for a child resource (an extension) of a machine that is not there."""
    return ArmError(
        404,
        "ParentResourceNotFound",
        f"Can not perform requested operation on nested resource. Parent resource '{name}' not found.",
    )


def _invalid(message: str) -> ArmError:
    """A body the RP cannot deserialize into its update model (MachineUpdate, MachineExtensionUpdate)."""
    return ArmError(
        400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: {message}"
    )


def _check_type(value: Any, expected: type, path: str) -> None:
    """Null (a merge-patch removal) or a value of the model's type, as Newtonsoft reports a mismatch."""
    names = {bool: "System.Boolean", str: "System.String", dict: "System.Collections.Generic.Dictionary"}
    if value is not None and not isinstance(value, expected):
        raise _invalid(f"Error converting value {json.dumps(value)} to type '{names[expected]}'. Path '{path}'.")


# --- subscriptions ----------------------------------------------------------------------------------


def subscription_json(sim: FleetSimulator, sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sub.subscription_id,
        "tenantId": sim.fleet.tenant_id,
        "displayName": sub.display_name,
        "state": sub.state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "EnterpriseAgreement_2014-09-01",
            "spendingLimit": "Off",
        },
    }


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _read_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return max(0, int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]))
    except (ValueError, KeyError, TypeError):
        raise ArmError(400, "InvalidSkipToken", "The skip token is invalid.") from None


def _paged(sim: FleetSimulator, request: Request, items: list[Any], page_size: int, path: str) -> Response:
    """``{"value": [...], "nextLink"?}`` with an opaque ``$skiptoken``, as ARM lists do."""
    offset = _read_page_token(request.query.get("$skiptoken"))
    page = items[offset : offset + page_size]
    body: dict[str, Any] = {"value": page}
    if offset + len(page) < len(items):
        body["nextLink"] = (
            f"{sim.base_url}{quote(path)}?api-version={request.api_version}"
            f"&%24skiptoken={_page_token(offset + len(page))}"
        )
    return Response(200, body)


def _listed(sim: FleetSimulator, sub: Subscription) -> bool:
    """Deleted subscriptions are gone from the list unless the simulator keeps them (a lagging list)."""
    return sub.readable and (not sub.deleted or sim.list_deleted_subscriptions)


def list_subscriptions(sim: FleetSimulator, request: Request, params: dict[str, str]) -> Response:
    items = [subscription_json(sim, s) for s in sim.fleet.subscriptions if _listed(sim, s)]
    response = _paged(sim, request, items, sim.subscription_page_size, "/subscriptions")
    if request.api_version == "2022-12-01":
        response.body["count"] = {"type": "Total", "value": len(items)}
    return response


def get_subscription(sim: FleetSimulator, request: Request, params: dict[str, str]) -> Response:
    sub = sim.fleet.subscription(params["subscription"])
    if sub is not None and sub.deleted and _listed(sim, sub):
        return Response(200, subscription_json(sim, sub))
    sub = _readable_subscription(sim, params["subscription"])
    return Response(200, subscription_json(sim, sub))


def _readable_subscription(sim: FleetSimulator, subscription_id: str) -> Subscription:
    """The subscription if the caller may read inside it; a Deleted one is not found (no operations)."""
    sub = sim.fleet.subscription(subscription_id)
    if sub is None or sub.deleted:
        raise _subscription_not_found(subscription_id)
    if not sub.readable:
        raise _forbidden(sim, "Microsoft.Resources/subscriptions/read", f"/subscriptions/{subscription_id}")
    return sub


# --- machines ---------------------------------------------------------------------------------------


def machine_json(sim: FleetSimulator, machine: Machine, api_version: str) -> dict[str, Any]:
    """The full ``Machine`` resource as GET and PATCH return it."""
    properties = copy.deepcopy(machine.properties)
    if api_version in LEGACY_API_VERSIONS:
        properties.pop("agentUpgrade", None)
    return {
        "location": machine.location,
        "identity": {"type": "SystemAssigned", "principalId": machine.principal_id, "tenantId": sim.fleet.tenant_id},
        "tags": dict(machine.tags),
        "properties": properties,
        "id": machine.id,
        "name": machine.name,
        "type": MACHINE_TYPE,
    }


def _lookup(sim: FleetSimulator, params: dict[str, str], action: str, write: bool = False) -> Machine:
    """Resolve the machine the way ARM does, raising its errors in its order. On an extension's route
    the scope is the extension (a lock on the machine or its group covers it) and a missing machine is
    its missing parent."""
    sub_id, rg, name = params["subscription"], params["resource_group"], params["machine"]
    scope = f"/subscriptions/{sub_id}/resourceGroups/{rg}/providers/{MACHINE_TYPE}/{name}"
    machine_scope = scope
    if "extension" in params:
        scope += f"/extensions/{params['extension']}"
    sub = sim.fleet.subscription(sub_id)
    if sub is None or sub.deleted:
        raise _subscription_not_found(sub_id)
    if write and sub.read_only:
        # ARM's answer for PUT/PATCH/POST in a Disabled (or Expired) subscription: 409, whatever the RBAC.
        raise ArmError(
            409,
            "ReadOnlyDisabledSubscription",
            f"The subscription '{sub.subscription_id}' is disabled and therefore marked as read only. "
            f"You cannot perform any write actions on this subscription until it is re-enabled.",
        )
    if not sub.readable or (write and not sub.writable):
        raise _forbidden(sim, action, scope)
    if not sim.fleet.has_resource_group(sub_id, rg):
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
    machine = sim.fleet.find_machine(sub_id, rg, name)
    if machine is not None:
        sim.settle(machine)
    if write and machine is not None and not machine.deleted and machine.write_forbidden:
        raise _forbidden(sim, action, scope)
    if write and (sub.rg_locked(rg) or (machine is not None and not machine.deleted and machine.locked)):
        lock_scope = (
            machine_scope if machine is not None and machine.locked else f"/subscriptions/{sub_id}/resourceGroups/{rg}"
        )
        raise ArmError(
            409,
            "ScopeLocked",
            f"The scope '{scope}' cannot perform write operation because following scope(s) are locked: "
            f"'{lock_scope}'. Please remove the lock and try again.",
        )
    if machine is None or machine.deleted:
        raise _parent_not_found(name) if "extension" in params else _machine_not_found(rg, name)
    return machine


def get_machine(sim: FleetSimulator, request: Request, params: dict[str, str]) -> Response:
    machine = _lookup(sim, params, "Microsoft.HybridCompute/machines/read")
    return Response(200, machine_json(sim, machine, request.api_version or ""))


def list_machines(sim: FleetSimulator, request: Request, params: dict[str, str]) -> Response:
    sub = _readable_subscription(sim, params["subscription"])
    rg = params.get("resource_group")
    if rg is not None and not sim.fleet.has_resource_group(sub.subscription_id, rg):
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
    machines = []
    for machine in sim.fleet.machines:
        if machine.subscription_id != sub.subscription_id:
            continue
        if rg is not None and name_key(machine.resource_group) != name_key(rg):
            continue
        sim.settle(machine)
        if not machine.deleted:
            machines.append(machine)
    machines.sort(key=lambda m: m.id.lower())
    items = [machine_json(sim, m, request.api_version or "") for m in machines]
    return _paged(sim, request, items, sim.machine_page_size, request.path)


def patch_machine(sim: FleetSimulator, request: Request, params: dict[str, str]) -> Response:
    # ARM checks the scope (404/403/409) before the RP looks at the body (400).
    machine = _lookup(sim, params, "Microsoft.HybridCompute/machines/write", write=True)
    body = request.json_body()
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object (MachineUpdate).")
    patch_props = body.get("properties", {})
    tags = body.get("tags", MISSING)
    _validate_patch(patch_props, tags)
    if machine.write_conflicts > 0:  # transient, unlike a lock: the writer retries and gets through
        machine.write_conflicts -= 1
        raise ArmError(
            409,
            machine.conflict_code,
            f"The resource '{machine.id}' is being updated by another operation (for example a "
            f"policy remediation task). Retry the request after that operation completes.",
        )
    now = sim.clock.now()
    legacy = request.api_version in LEGACY_API_VERSIONS
    record = sim.record_change

    _replace_tags(machine, machine, tags, now, record)
    for key, value in (patch_props or {}).items():
        if key not in WRITABLE_PROPERTIES or (legacy and key == "agentUpgrade"):
            continue  # read-only or unknown to this api-version: ignored, as the RP does
        if key == "agentUpgrade":
            _patch_agent_upgrade(machine, value, now, record)
        else:
            _merge_property(machine, key, value, now, record)

    return Response(200, machine_json(sim, machine, request.api_version or ""))


def _validate_patch(props: Any, tags: Any) -> None:
    _validate_bag(props, tags)
    upgrade = (props or {}).get("agentUpgrade")
    if upgrade is None:
        return
    if not isinstance(upgrade, dict):
        raise _invalid("'properties.agentUpgrade' must be an object.")
    _check_type(upgrade.get("enableAutomaticUpgrade"), bool, "properties.agentUpgrade.enableAutomaticUpgrade")
    for key in ("desiredVersion", "correlationId"):
        _check_type(upgrade.get(key), str, f"properties.agentUpgrade.{key}")


def _validate_bag(props: Any, tags: Any) -> None:
    """What every update model (MachineUpdate, MachineExtensionUpdate) needs of ``properties`` and ``tags``."""
    if props is not None and not isinstance(props, dict):
        raise _invalid("'properties' must be an object.")
    if (
        tags is not MISSING
        and tags is not None
        and (not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()))
    ):
        raise _invalid("'tags' must be an object of strings.")


def _replace_tags(machine: Machine, owner: Machine | Extension, tags: Any, now: datetime, record: Recorder) -> None:
    """PATCH replaces the tags of the machine or extension (``owner``) as a whole (``MISSING``: left alone)."""
    if tags is MISSING:
        return
    new_tags = dict(tags or {})
    if new_tags != owner.tags:
        field = "tags" if owner is machine else f"extensions/{owner.name}.tags"
        record(machine, field, dict(owner.tags), new_tags, now, "patch", "" if owner is machine else owner.name)
        owner.tags = new_tags
        machine.revision += 1


def _merge_property(
    machine: Machine, key: str, value: Any, now: datetime, record: Recorder, extension: Extension | None = None
) -> None:
    """Merge-patch one top-level property of the machine or of one of its extensions."""
    old = (extension or machine).properties.get(key, MISSING)
    merged = _merge_patch(copy.deepcopy(old) if old is not MISSING else MISSING, value)
    set_property(machine, (key,), merged, now, "patch", record, extension=extension)


def _patch_agent_upgrade(machine: Machine, value: Any, now, record) -> None:
    if value is None:
        value = {key: None for key in WRITABLE_AGENT_UPGRADE}  # null removes the writable members
    was_on = (machine.properties.get("agentUpgrade") or {}).get("enableAutomaticUpgrade") is True
    for key in WRITABLE_AGENT_UPGRADE:
        if key in value:
            set_property(
                machine, ("agentUpgrade", key), MISSING if value[key] is None else value[key], now, "patch", record
            )
    upgrade = machine.properties.get("agentUpgrade")
    if upgrade == {}:
        del machine.properties["agentUpgrade"]
    is_on = (machine.properties.get("agentUpgrade") or {}).get("enableAutomaticUpgrade") is True
    if is_on and not was_on:
        machine.enabled_at, machine.attempts = now, 0  # the agent's schedule starts now
    elif was_on and not is_on:
        machine.enabled_at, machine.attempts = None, 0


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396."""
    if not isinstance(patch, dict):
        return MISSING if patch is None else patch
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            merged = _merge_patch(result.get(key, MISSING), value)
            result[key] = merged
    return result


# --- extensions -------------------------------------------------------------------------------------


def extension_json(machine: Machine, ext: Extension) -> dict[str, Any]:
    """The full ``MachineExtension`` as GET and PATCH return it (never its protected settings)."""
    body: dict[str, Any] = {
        "id": machine.extension_id(ext),
        "name": ext.name,
        "type": EXTENSION_TYPE,
        "location": machine.location,
    }
    if ext.tags:
        body["tags"] = dict(ext.tags)
    body["properties"] = copy.deepcopy(ext.properties)
    return body


def list_extensions(sim: FleetSimulator, request: Request, params: dict[str, str]) -> Response:
    machine = _lookup(sim, params, "Microsoft.HybridCompute/machines/extensions/read")
    return Response(200, {"value": [extension_json(machine, e) for e in machine.extensions]})


def _find_extension(machine: Machine, name: str) -> Extension:
    ext = machine.find_extension(name)
    if ext is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{MACHINE_TYPE}/{machine.name}/extensions/{name}' under resource "
            f"group '{machine.resource_group}' was not found. "
            f"For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return ext


def get_extension(sim: FleetSimulator, request: Request, params: dict[str, str]) -> Response:
    machine = _lookup(sim, params, "Microsoft.HybridCompute/machines/extensions/read")
    return Response(200, extension_json(machine, _find_extension(machine, params["extension"])))


#: ``MachineExtensionUpdateProperties`` (REST spec 2024-07-10, 2025-01-13): everything a PATCH may set.
#: ``provisioningState`` and ``instanceView`` are not members of it: a body naming them is refused.
EXTENSION_UPDATE_PROPERTIES: dict[str, type] = {
    "forceUpdateTag": str,
    "publisher": str,
    "type": str,
    "typeHandlerVersion": str,
    "enableAutomaticUpgrade": bool,
    "autoUpgradeMinorVersion": bool,
    "settings": dict,
    "protectedSettings": dict,
}
#: What names the extension handler: fixed once installed.
EXTENSION_IDENTITY = ("publisher", "type")


def patch_extension(sim: FleetSimulator, request: Request, params: dict[str, str]) -> Response:
    """PATCH an extension (``MachineExtensionUpdate``): merge-patch into ``properties``, 200 with the
    whole extension. Azure may run this as a long-running operation; the simulator answers at once."""
    machine = _lookup(sim, params, "Microsoft.HybridCompute/machines/extensions/write", write=True)
    ext = _find_extension(machine, params["extension"])
    body = request.json_body()
    if not isinstance(body, dict):
        raise ArmError(
            400, "InvalidRequestContent", "The request content must be a JSON object (MachineExtensionUpdate)."
        )
    props, tags = body.get("properties") or {}, body.get("tags", MISSING)
    _validate_extension_patch(ext, props, tags)
    now = sim.clock.now()
    record = sim.record_change
    was_opted_in = ext.opted_in

    _replace_tags(machine, ext, tags, now, record)
    for key, value in props.items():
        if key in EXTENSION_IDENTITY:  # validated as the same handler: kept as first written
            continue
        if key == "protectedSettings":  # write-only: kept, never served, never logged in clear
            ext.protected_settings = dict(value or {})
            record(
                machine,
                f"extensions/{ext.name}.properties.protectedSettings",
                None,
                "(protected)",
                now,
                "patch",
                ext.name,
            )
            continue
        _merge_property(machine, key, value, now, record, ext)
        if key == "typeHandlerVersion":  # a version asked for by hand is installed straight away
            set_property(machine, ("instanceView", "typeHandlerVersion"), value, now, "patch", record, extension=ext)

    if ext.opted_in and not was_opted_in:
        ext.schedule_from(now)  # the platform's rollout reaches it from now on
    elif was_opted_in and not ext.opted_in:
        ext.unschedule()
    return Response(200, extension_json(machine, ext))


def _validate_extension_patch(ext: Extension, props: Any, tags: Any) -> None:
    _validate_bag(props, tags)
    for key, value in props.items():
        expected = EXTENSION_UPDATE_PROPERTIES.get(key)
        if expected is None:
            raise _invalid(
                f"Could not find member '{key}' on object of type 'MachineExtensionUpdateProperties'. "
                f"Path 'properties.{key}'."
            )
        _check_type(value, expected, f"properties.{key}")
        if key in EXTENSION_IDENTITY + ("typeHandlerVersion",) and value is None:
            raise _invalid(f"'properties.{key}' cannot be null.")
        if key in EXTENSION_IDENTITY and value.casefold() != str(ext.properties.get(key, "")).casefold():
            raise ArmError(400, "PropertyChangeNotAllowed", f"Changing property '{key}' is not allowed.")
