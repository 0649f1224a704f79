"""Arc machine resource ids: the ARM grammar, request paths, and table keys.

The sweeper builds a PATCH URL from an id that Resource Graph returned, so an id is used
only after it parsed against the ARM grammar for `Microsoft.HybridCompute/machines`
(reference §1 and §13a): a subscription GUID, a resource group of 1-90 Unicode letters,
digits, `_ ( ) - .` not ending in `.`, and a machine name matching
`^[a-zA-Z0-9-_.]{1,54}$` that is not only dots. Paths are then rebuilt from the parts with
each segment percent-encoded, so no id can drop or replace the api-version, climb to
another path, or address the collection.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote

from arc_sweeper.text import is_guid

MACHINE_TYPE_PATH = "providers/Microsoft.HybridCompute/machines"
_MACHINE_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,54}")
_EXTENSION_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}")
_RESOURCE_GROUP_PUNCTUATION = frozenset("_()-.")
MAX_RESOURCE_GROUP = 90
_KEY_FORBIDDEN = re.compile(r"[%/\\#?|\x00-\x1f\x7f-\x9f]")
"""Table keys forbid / \\ # ? and control characters; % and | are our own escape and separator."""


@dataclass(frozen=True)
class MachineId:
    subscription_id: str  # lowercase GUID
    resource_group: str  # as Azure wrote it (ARM compares it case-insensitively)
    name: str

    @property
    def path(self) -> str:
        """The ARM request path, every segment percent-encoded."""
        return (
            f"/subscriptions/{quote(self.subscription_id, safe='')}"
            f"/resourceGroups/{quote(self.resource_group, safe='')}"
            f"/{MACHINE_TYPE_PATH}/{quote(self.name, safe='')}"
        )


def parse_machine_id(resource_id: str) -> MachineId | None:
    """The parts of a well-formed machine id, or None for anything else (never raises)."""
    segments = resource_id.split("/")
    if len(segments) != 9 or segments[0] != "":
        return None
    _, subscriptions, subscription, groups, group, providers, namespace, kind, name = segments
    literals = (subscriptions, groups, providers, namespace, kind)
    if tuple(part.lower() for part in literals) != (
        "subscriptions",
        "resourcegroups",
        "providers",
        "microsoft.hybridcompute",
        "machines",
    ):
        return None
    if not is_guid(subscription) or not is_resource_group_name(group) or not is_machine_name(name):
        return None
    return MachineId(subscription.lower(), group, name)


@dataclass(frozen=True)
class ExtensionId:
    machine: MachineId
    name: str

    @property
    def path(self) -> str:
        return f"{self.machine.path}/extensions/{quote(self.name, safe='')}"


def parse_extension_id(resource_id: str) -> ExtensionId | None:
    """The parts of a well-formed machine extension id (`<machine id>/extensions/<name>`), or None."""
    machine_part, separator, name = resource_id.rpartition("/extensions/")
    machine = parse_machine_id(machine_part) if separator else None
    if machine is None or _EXTENSION_NAME.fullmatch(name) is None or not name.strip("."):
        return None
    return ExtensionId(machine, name)


def is_resource_group_name(name: str) -> bool:
    return (
        0 < len(name) <= MAX_RESOURCE_GROUP
        and not name.endswith(".")
        and all(c.isalnum() or c in _RESOURCE_GROUP_PUNCTUATION for c in name)
    )


def is_machine_name(name: str) -> bool:
    return _MACHINE_NAME.fullmatch(name) is not None and name.strip(".") != ""


def machine_key(resource_id: str) -> str:
    """Table row key of a machine: `{resource group}|{name}`, lowercased, readable, short.

    Unicode is allowed in table keys, so only the characters tables forbid are escaped;
    a legal id gives at most 145 characters, well inside the key limit. An id that does not
    parse is keyed by its hash, so it can still be recorded and reported.
    """
    machine = parse_machine_id(resource_id)
    if machine is None:
        return "id-" + hashlib.sha256(resource_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_key_part(machine.resource_group)}|{_key_part(machine.name)}"


def extension_key(resource_id: str) -> str:
    """Table row key of an extension: its machine's key, `|`, its name (same rules as machine_key)."""
    extension = parse_extension_id(resource_id)
    if extension is None:
        return "id-" + hashlib.sha256(resource_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{machine_key(resource_id.rpartition('/extensions/')[0])}|{_key_part(extension.name)}"


def _key_part(text: str) -> str:
    return _KEY_FORBIDDEN.sub(lambda match: f"%{ord(match.group()):02X}", text.lower())
