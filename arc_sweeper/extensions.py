"""Machine extensions: what is wrong with one, what the sweeper does about it, what became of it.

Azure upgrades an Arc machine's extensions itself, but only the types automatic extension
upgrade supports, only while `enableAutomaticUpgrade` is not false (extensions are opted in
by default, so `false` is someone's explicit opt-out), and a failed upgrade rolls back
quietly. Classification and outcomes here are pure, like the machines' (arc_sweeper.findings,
arc_sweeper.outcomes). The supported types are data (`data/auto_upgrade_extensions.json`),
overridable with SUPPORTED_EXTENSIONS_FILE, since Microsoft adds types over time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from arc_sweeper.records import ExtensionRecord, MachineRecord
from arc_sweeper.resource_ids import parse_extension_id
from arc_sweeper.text import clip
from arc_sweeper.vocabulary import (
    Action,
    AttentionKind,
    EnableResult,
    ExtensionFinding,
    ExtensionMode,
    ExtensionOutcome,
    Finding,
)

BUNDLED_SUPPORTED = "data/auto_upgrade_extensions.json"
FAR_BEHIND = 2
"""Versions behind the estate's newest from which an extension is an attention item."""
_VERSION = re.compile(r"[0-9]+(\.[0-9]+){0,3}")


class SupportedExtensionsError(ValueError):
    def __init__(self, origin: str, problem: str) -> None:
        super().__init__(f"{origin}: {problem}")
        self.problem = problem


@dataclass(frozen=True)
class SupportedExtensions:
    """The extension types automatic extension upgrade supports, as (publisher, type), lowercase."""

    types: frozenset[tuple[str, str]]
    origin: str

    @classmethod
    def load(cls, path: str | None = None) -> SupportedExtensions:
        origin = path or f"bundled {BUNDLED_SUPPORTED}"
        try:
            text = (
                Path(path).read_text(encoding="utf-8")
                if path
                else resources.files("arc_sweeper").joinpath(BUNDLED_SUPPORTED).read_text("utf-8")
            )
            data = json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise SupportedExtensionsError(origin, f"cannot read it as JSON: {type(error).__name__}") from None
        entries = data.get("extensions") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not entries:
            raise SupportedExtensionsError(origin, 'expected {"extensions": [{"publisher": ..., "type": ...}, ...]}')
        types = set()
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict) or not all(
                isinstance(entry.get(k), str) and entry[k].strip() for k in ("publisher", "type")
            ):
                raise SupportedExtensionsError(origin, f"extensions[{position}]: needs a publisher and a type")
            types.add((entry["publisher"].strip().lower(), entry["type"].strip().lower()))
        return cls(frozenset(types), origin)

    def supports(self, publisher: str, extension_type: str) -> bool:
        return (publisher.strip().lower(), extension_type.strip().lower()) in self.types


@dataclass(frozen=True)
class ExtensionSnapshot:
    """One `Microsoft.HybridCompute/machines/extensions` resource as Resource Graph returned it (raw strings)."""

    id: str
    name: str
    subscription_id: str
    publisher: str = ""
    extension_type: str = ""
    version: str = ""
    auto_upgrade: bool | None = None  # None: not set, which means opted in
    provisioning_state: str = ""
    status_level: str = ""
    status_message: str = ""

    @property
    def machine_id(self) -> str:
        """Its machine's id, lowercase, from its own id (which is where a PATCH would go): the join key."""
        machine, separator, _ = self.id.rpartition("/extensions/")
        return machine.lower() if separator else ""

    @property
    def failed(self) -> bool:
        return self.provisioning_state.strip().lower() == "failed" or self.status_level.strip().lower() == "error"


@dataclass(frozen=True)
class ExtensionPolicy:
    mode: ExtensionMode
    supported: SupportedExtensions
    denied: frozenset[str]  # lowercase "publisher.type" or "type"

    def denies(self, publisher: str, extension_type: str) -> bool:
        kind = extension_type.strip().lower()
        return kind in self.denied or f"{publisher.strip().lower()}.{kind}" in self.denied


def parse_extension_version(text: str) -> tuple[int, ...] | None:
    match = _VERSION.fullmatch(text.strip()) if isinstance(text, str) else None
    return tuple(int(part) for part in text.strip().split(".")) if match else None


VersionsInUse = dict[tuple[str, str], set[tuple[int, ...]]]
"""Every readable version the estate runs, per (publisher, type) in lowercase."""


def versions_in_use(seen: Iterable[tuple[str, str, str]]) -> VersionsInUse:
    """The estate's versions from the (publisher, type, version) of each extension row."""
    in_use: VersionsInUse = {}
    for publisher, extension_type, version_text in seen:
        version = parse_extension_version(version_text)
        if version is not None:
            in_use.setdefault(_kind(publisher, extension_type), set()).add(version)
    return in_use


def ranked(rows: Iterable[ExtensionRecord], in_use: VersionsInUse) -> list[ExtensionRecord]:
    """The rows whose rank changes once the whole run's versions are known: how many newer
    versions of the same publisher/type the estate runs (`versions_behind`, the BEHIND finding).

    An unreadable version is never behind (it is reported as it is)."""
    changed = []
    for row in rows:
        version = parse_extension_version(row.version_seen)
        newer = in_use.get(_kind(row.publisher, row.extension_type), set())
        behind = 0 if version is None else sum(1 for other in newer if other > version)
        if behind != row.versions_behind:
            found = (set(row.findings) - {ExtensionFinding.OK, ExtensionFinding.BEHIND}) | (
                {ExtensionFinding.BEHIND} if behind else set()
            )
            changed.append(
                replace(
                    row,
                    versions_behind=behind,
                    findings=tuple(f for f in ExtensionFinding if f in found) or (ExtensionFinding.OK,),
                )
            )
    return changed


def _kind(publisher: str, extension_type: str) -> tuple[str, str]:
    return publisher.strip().lower(), extension_type.strip().lower()


def extension_row(
    ext: ExtensionSnapshot, machine: MachineRecord, policy: ExtensionPolicy, as_of: str, held: str = ""
) -> ExtensionRecord:
    """The extensions-table row: findings, and the action (PATCH only in `enable` mode and only when safe).

    How far behind it is needs the whole estate's versions, so it is ranked when enabling
    closes (`ranked`). `held` says why its machine's ring is not open: its enabling waits like
    the machine's own. It is followed when this run enables it or its machine's agent.
    """
    supported = policy.supported.supports(ext.publisher, ext.extension_type)
    connected = machine.connection_status.strip().lower() == "connected"
    excluded = Finding.EXCLUDED in machine.findings
    denied = policy.denies(ext.publisher, ext.extension_type)
    found = {
        ExtensionFinding.AUTO_UPGRADE_OFF: supported and ext.auto_upgrade is False,
        ExtensionFinding.PROVISIONING_FAILED: ext.failed,
        ExtensionFinding.UNSUPPORTED: not supported,
        ExtensionFinding.MACHINE_NOT_CONNECTED: not connected,
        ExtensionFinding.EXCLUDED: excluded,
        ExtensionFinding.DENIED: denied,
    }
    findings = tuple(f for f in ExtensionFinding if found.get(f)) or (ExtensionFinding.OK,)
    enable = (
        policy.mode == ExtensionMode.ENABLE
        and supported
        and ext.auto_upgrade is False
        and connected
        and not excluded
        and not denied
        and parse_extension_id(ext.id) is not None
        and Finding.UNRECOGNISED_ID not in machine.findings
    )
    deferred = enable and bool(held)
    return ExtensionRecord(
        run_id=machine.run_id,
        resource_id=ext.id,
        machine_id=machine.resource_id,
        subscription_id=machine.subscription_id,
        machine_name=machine.name,
        name=ext.name,
        publisher=ext.publisher,
        extension_type=ext.extension_type,
        version_seen=ext.version,
        auto_upgrade_before={True: "true", False: "false", None: "missing"}[ext.auto_upgrade],
        provisioning_state=ext.provisioning_state,
        status_level=ext.status_level,
        status_message=ext.status_message,
        findings=findings,
        action=Action.ENABLE_AUTO_UPGRADE if enable else Action.NONE,
        action_result=EnableResult.DEFERRED if deferred else EnableResult.NOT_ATTEMPTED,
        defer_reason=held if deferred else "",
        followed=enable or machine.action == Action.ENABLE_AUTO_UPGRADE,
        updated_at=as_of,
    )


def extension_outcome(row: ExtensionRecord, now: ExtensionSnapshot | None) -> tuple[ExtensionOutcome, str]:
    """What the follow-up sees: upgraded (a newer version), failing (with the message; a failed
    upgrade rolls back to the old version), current (newest in the estate), unchanged, gone.

    Azure shows a failed upgrade only until its rollback completes, and retries within hours:
    an extension seen failing stays failing, with the message seen, until a newer version shows
    (else a check between two failed attempts would call it current and stop following it)."""
    if now is None:
        return ExtensionOutcome.GONE, "extension no longer exists"
    before, after = parse_extension_version(row.version_seen), parse_extension_version(now.version)
    if before is not None and after is not None and after > before:
        return ExtensionOutcome.UPGRADED, f"{row.version_seen} -> {now.version}"
    if now.failed:
        return ExtensionOutcome.FAILING, now.status_message or f"provisioning {now.provisioning_state or 'failed'}"
    if row.outcome == ExtensionOutcome.FAILING:
        return ExtensionOutcome.FAILING, row.outcome_detail
    if row.versions_behind == 0 and before is not None and before == after:
        return ExtensionOutcome.CURRENT, f"{now.version}, the newest the estate runs"
    return ExtensionOutcome.UNCHANGED, f"still {now.version or 'unknown'}"


def extension_attention(row: ExtensionRecord) -> list[tuple[AttentionKind, str]]:
    """What about this extension needs a person, with the detail; nothing for an excluded machine's.

    Failing is what the latest look says: the follow-up's outcome once it has one, else discovery's.
    """
    if ExtensionFinding.EXCLUDED in row.findings:
        return []
    found = []
    failing = (
        row.outcome == ExtensionOutcome.FAILING
        if row.outcome is not None
        else (ExtensionFinding.PROVISIONING_FAILED in row.findings)
    )
    if failing:
        found.append(
            (
                AttentionKind.EXTENSION_FAILED,
                row.outcome_detail
                if row.outcome is not None
                else (row.status_message or f"provisioning {row.provisioning_state or 'failed'}"),
            )
        )
    if ExtensionFinding.AUTO_UPGRADE_OFF in row.findings and row.action_result != EnableResult.ENABLED:
        found.append((AttentionKind.EXTENSION_OPTED_OUT, "enableAutomaticUpgrade is false"))
    if row.versions_behind >= FAR_BEHIND and row.outcome != ExtensionOutcome.UPGRADED:
        found.append(
            (
                AttentionKind.EXTENSION_FAR_BEHIND,
                f"{row.version_seen}: {row.versions_behind} versions behind the newest in the estate",
            )
        )
    return found


def fleet_state(row: ExtensionRecord) -> str:
    """One short line for the fleet view: its version, then what needs attention."""
    version = row.version_now or row.version_seen or "version unknown"
    return clip("; ".join([version, *(str(kind) for kind, _ in extension_attention(row))]), 200)


def extension_from_row(row: dict[str, Any]) -> ExtensionSnapshot:
    """A snapshot from one Resource Graph row; odd or missing values kept as text."""

    def text(name: str) -> str:
        value = row.get(name)
        return "" if value is None else str(value)

    auto = row.get("autoUpgrade")
    if isinstance(auto, str) and auto.strip().lower() in ("true", "false"):
        auto = auto.strip().lower() == "true"
    return ExtensionSnapshot(
        id=text("id"),
        name=text("name"),
        subscription_id=text("subscriptionId").lower(),
        publisher=text("publisher"),
        extension_type=text("extensionType"),
        version=text("version"),
        auto_upgrade=auto if isinstance(auto, bool) else None,
        provisioning_state=text("provisioningState"),
        status_level=text("statusLevel"),
        status_message=text("statusMessage"),
    )
