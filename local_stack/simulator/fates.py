"""The test oracle: what a correct sweep does with each machine and extension, decided before it runs.

End-to-end tests need more than "the sweep finished": they need to know, machine by
machine, whether a PATCH had to be sent. The rules below are Azure's facts (subscription
states, tag name casing, who may write) plus the product's documented contract (sweep
Enabled, Warned and PastDue subscriptions; enable Connected agents of 1.57 or newer whose
flag is off; skip the exclusion tag, name and value compared case-insensitively with
surrounding spaces ignored). Where the contract is a choice, :class:`FateRules` lets a test
state another one.

Extensions (issue 13) have a ledger of their own, :meth:`FateLedger.of_extensions`: in
``report`` mode nothing is PATCHed; in ``enable`` mode an extension of a supported type
whose ``enableAutomaticUpgrade`` is false is PATCHed, on a Connected machine in reach (the
machine rules above: subscription, exclusion tag) unless its type is denied. An absent flag
is opted in already, and an unsupported type would gain nothing. :class:`ExtensionFateRules`
states the contract.

A fate is decided on the fleet as it stands (generation time for ``generate_fleet``):
agents that disconnect or vanish later keep the fate they had at the start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from local_stack.simulator.agents import parse_version
from local_stack.simulator.extension_catalog import SUPPORTED_EXTENSION_TYPES, type_key
from local_stack.simulator.fleet import name_key
from local_stack.simulator.props import MISSING

if TYPE_CHECKING:
    from local_stack.simulator.extensions import Extension
    from local_stack.simulator.fleet import Fleet, Machine

PATCH = "patch"  # must be PATCHed, and the PATCH succeeds (perhaps after transient 409s)
REFUSED = "refused"  # a PATCH is due, but Azure refuses it (lock, no write permission): trying is right
LEAVE = "leave"  # no PATCH may be sent
EITHER = "either"  # the documented rules do not decide (an odd version string): not asserted
EXPECTS = (PATCH, REFUSED, LEAVE, EITHER)

#: Two to four dot-separated numbers: MAJOR.MINOR is unambiguous. Anything else (``1.62.0-beta``)
#: is left to the product's parser.
_PLAIN_VERSION = re.compile(r"\d+(\.\d+){1,3}")


@dataclass(frozen=True)
class FateRules:
    """The contract the ledger checks. Defaults follow the product's documented settings."""

    exclusion_tag: tuple[str, str] | None = ("arc-sweeper", "exclude")
    #: "exact": the value must equal (Azure tag values are case-sensitive strings);
    #: "trimmed-casefold": `` Exclude `` counts too.
    exclusion_value_match: str = "trimmed-casefold"
    sweep_states: frozenset[str] = frozenset({"Enabled", "Warned", "PastDue"})
    min_version: tuple[int, int] = (1, 57)

    def __post_init__(self) -> None:
        if self.exclusion_value_match not in ("exact", "trimmed-casefold"):
            raise ValueError(f"exclusion_value_match {self.exclusion_value_match!r}")

    def excluded(self, tags: dict[str, str]) -> bool:
        if self.exclusion_tag is None:
            return False
        name, wanted = self.exclusion_tag
        for key, value in tags.items():
            if name_key(key) != name_key(name):
                continue
            if value == wanted or (
                self.exclusion_value_match == "trimmed-casefold"
                and value.strip().casefold() == wanted.strip().casefold()
            ):
                return True
        return False


#: What a sweep is asked to do with extensions: look only, or enable automatic upgrade.
REPORT, ENABLE = "report", "enable"
MODES = (REPORT, ENABLE)


@dataclass(frozen=True)
class ExtensionFateRules:
    """The extension contract: the mode, the types the product is told to leave alone, the types the
    platform upgrades, and (``scope``) the machine rules on subscriptions and the exclusion tag."""

    mode: str = ENABLE
    denied_types: frozenset[str] = frozenset()  # extension types (properties.type), compared ignoring case
    supported: frozenset[tuple[str, str]] = SUPPORTED_EXTENSION_TYPES
    scope: FateRules = FateRules()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    def is_supported(self, ext: Extension) -> bool:
        return type_key(ext.publisher, ext.type) in {type_key(*pair) for pair in self.supported}

    def is_denied(self, ext: Extension) -> bool:
        return ext.type.casefold() in {t.casefold() for t in self.denied_types}


@dataclass(frozen=True)
class Fate:
    expect: str  # one of EXPECTS
    reason: str  # why, for a failing test's message


def _out_of_reach(machine: Machine, fleet: Fleet, rules: FateRules) -> Fate | None:
    """LEAVE for a machine (and so its extensions) the sweep must not touch, whatever it holds."""
    sub = fleet.subscription(machine.subscription_id)
    assert sub is not None
    if sub.deleted:
        return Fate(LEAVE, "subscription deleted: nothing to see")
    if not sub.readable:
        return Fate(LEAVE, "subscription not readable: invisible")
    if sub.state not in rules.sweep_states:
        return Fate(LEAVE, f"subscription state {sub.state}")
    if machine.deleted:
        return Fate(LEAVE, "not onboarded yet" if machine.onboard_at is not None else "machine deleted")
    if rules.excluded(machine.tags):
        return Fate(LEAVE, "carries the exclusion tag")
    return None


def _disconnected(machine: Machine, what: str) -> Fate | None:
    status = str(machine.properties.get("status", ""))
    if status.casefold() != "connected":
        return Fate(LEAVE, f"status {status or '(none)'}: {what}")
    return None


def _write_refused(machine: Machine, fleet: Fleet) -> Fate | None:
    """REFUSED where Azure will refuse the PATCH: trying is right, succeeding is impossible."""
    sub = fleet.subscription(machine.subscription_id)
    assert sub is not None
    if not sub.writable or machine.write_forbidden:
        return Fate(REFUSED, "no write permission: 403")
    if machine.locked or sub.rg_locked(machine.resource_group):
        return Fate(REFUSED, "ReadOnly lock: 409 ScopeLocked")
    return None


def decide(machine: Machine, fleet: Fleet, rules: FateRules) -> Fate:
    """One machine's fate, the first rule that applies deciding."""
    props = machine.properties
    upgrade = props.get("agentUpgrade")
    version = props.get("agentVersion")
    fate = _out_of_reach(machine, fleet, rules)
    if fate is not None:
        return fate
    if isinstance(upgrade, dict) and upgrade.get("enableAutomaticUpgrade") is True:
        return Fate(LEAVE, "automatic upgrade already on")
    fate = _disconnected(machine, "the agent cannot act on the flag")
    if fate is not None:
        return fate
    if not isinstance(version, str) or not re.search(r"\d+\.\d+", version):
        return Fate(LEAVE, f"no readable agent version ({version!r})")
    if not _PLAIN_VERSION.fullmatch(version):
        return Fate(EITHER, f"agent version {version!r} is not two to four plain numbers")
    parsed = parse_version(version)
    assert parsed is not None
    if parsed < rules.min_version:
        return Fate(LEAVE, f"agent {parsed[0]}.{parsed[1]} too old to upgrade itself: manual upgrade")
    fate = _write_refused(machine, fleet)
    if fate is not None:
        return fate
    if machine.write_conflicts:
        return Fate(PATCH, f"enable (after {machine.write_conflicts} transient 409 {machine.conflict_code})")
    return Fate(PATCH, "enable")


def decide_extension(machine: Machine, ext: Extension, fleet: Fleet, rules: ExtensionFateRules) -> Fate:
    """One extension's fate, the first rule that applies deciding."""
    if rules.mode == REPORT:
        return Fate(LEAVE, "report mode: nothing is written")
    fate = _out_of_reach(machine, fleet, rules.scope)
    if fate is not None:
        return fate
    if not rules.is_supported(ext):
        return Fate(LEAVE, f"{ext.publisher}/{ext.type} is not supported: the platform never upgrades it")
    if rules.is_denied(ext):
        return Fate(LEAVE, f"type {ext.type} is denied")
    flag = ext.properties.get("enableAutomaticUpgrade", MISSING)
    if flag is MISSING:
        return Fate(LEAVE, "enableAutomaticUpgrade absent: opted in by default")
    if flag is not False:
        return Fate(LEAVE, "automatic upgrade already on")
    fate = _disconnected(machine, "the platform cannot upgrade its extensions")
    if fate is not None:
        return fate
    return _write_refused(machine, fleet) or Fate(PATCH, "enable extension automatic upgrade")


class FateLedger:
    """Every machine's (or extension's) fate, by id, fixed when the ledger is made (a fault that hides
    a machine from the product, such as a malformed Resource Graph id, may later :meth:`overrule` one)."""

    def __init__(self, fates: dict[str, Fate], rules: FateRules | ExtensionFateRules, noun: str = "machine"):
        self.rules = rules
        self.noun = noun  # what the ids name, for check()'s messages
        self._fates = fates

    @classmethod
    def of(cls, fleet: Fleet, rules: FateRules = FateRules()) -> FateLedger:
        return cls({m.id: decide(m, fleet, rules) for m in fleet.machines}, rules)

    @classmethod
    def of_extensions(cls, fleet: Fleet, rules: ExtensionFateRules = ExtensionFateRules()) -> FateLedger:
        """Every extension's fate, by its id (``{machine id}/extensions/{name}``)."""
        return cls(
            {m.extension_id(e): decide_extension(m, e, fleet, rules) for m in fleet.machines for e in m.extensions},
            rules,
            noun="extension",
        )

    def __getitem__(self, machine_id: str) -> Fate:
        return self._fates[machine_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fates)

    def __len__(self) -> int:
        return len(self._fates)

    def overrule(self, machine_id: str, fate: Fate) -> None:
        self._fates[machine_id] = fate

    def ids(self, *expects: str) -> set[str]:
        return {mid for mid, fate in self._fates.items() if fate.expect in expects}

    def must_patch(self) -> set[str]:
        """What a correct sweep PATCHes successfully."""
        return self.ids(PATCH)

    def must_not_patch(self) -> set[str]:
        """What no PATCH may be sent to."""
        return self.ids(LEAVE)

    def check(self, *, sent: set[str], succeeded: set[str]) -> list[str]:
        """What is wrong with a sweep, from the ids PATCHes were ``sent`` to and those that ``succeeded``
        (``FleetSimulator.patch_targets``, with ``resource="extension"`` for an extension ledger); empty
        when it did what it must."""
        problems = [f"not patched: {mid} ({self._fates[mid].reason})" for mid in sorted(self.must_patch() - succeeded)]
        problems += [
            f"patched but must not be: {mid} ({self._fates[mid].reason})"
            for mid in sorted(self.must_not_patch() & sent)
        ]
        article = "an" if self.noun[:1] in "aeiou" else "a"
        problems += [
            f"PATCH sent to {article} {self.noun} the fleet does not have: {mid}"
            for mid in sorted(sent - set(self._fates))
        ]
        return problems
