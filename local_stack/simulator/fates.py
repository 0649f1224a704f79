"""The test oracle: what a correct sweep does with each machine, decided before it runs.

End-to-end tests need more than "the sweep finished": they need to know, machine by
machine, whether a PATCH had to be sent. The rules below are Azure's facts (subscription
states, tag name casing, who may write) plus the product's documented contract (sweep
Enabled, Warned and PastDue subscriptions; enable Connected agents of 1.57 or newer whose
flag is off; skip the exclusion tag, name and value compared case-insensitively with
surrounding spaces ignored). Where the contract is a choice, :class:`FateRules` lets a test
state another one.

A fate is decided on the fleet as it stands (generation time for ``generate_fleet``):
agents that disconnect or vanish later keep the fate they had at the start.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

from local_stack.simulator.agents import parse_version
from local_stack.simulator.fleet import name_key

if TYPE_CHECKING:
    from local_stack.simulator.fleet import Fleet, Machine

PATCH = "patch"        # must be PATCHed, and the PATCH succeeds (perhaps after transient 409s)
REFUSED = "refused"    # a PATCH is due, but Azure refuses it (lock, no write permission): trying is right
LEAVE = "leave"        # no PATCH may be sent
EITHER = "either"      # the documented rules do not decide (an odd version string): not asserted
EXPECTS = (PATCH, REFUSED, LEAVE, EITHER)

#: Two to four dot-separated numbers: MAJOR.MINOR is unambiguous. Anything else (``1.62.0-beta``)
#: is left to the product's parser.
_PLAIN_VERSION = re.compile(r"\d+(\.\d+){1,3}")


@dataclass(frozen=True)
class FateRules:
    """The contract the ledger checks. Defaults follow the product's documented settings."""

    exclusion_tag: Optional[tuple[str, str]] = ("arc-sweeper", "exclude")
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
            if value == wanted or (self.exclusion_value_match == "trimmed-casefold"
                                   and value.strip().casefold() == wanted.strip().casefold()):
                return True
        return False


@dataclass(frozen=True)
class Fate:
    expect: str        # one of EXPECTS
    reason: str        # why, for a failing test's message


def decide(machine: "Machine", fleet: "Fleet", rules: FateRules) -> Fate:
    """One machine's fate, the first rule that applies deciding."""
    sub = fleet.subscription(machine.subscription_id)
    assert sub is not None
    props = machine.properties
    upgrade = props.get("agentUpgrade")
    version = props.get("agentVersion")
    status = str(props.get("status", ""))
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
    if isinstance(upgrade, dict) and upgrade.get("enableAutomaticUpgrade") is True:
        return Fate(LEAVE, "automatic upgrade already on")
    if status.casefold() != "connected":
        return Fate(LEAVE, f"status {status or '(none)'}: the agent cannot act on the flag")
    if not isinstance(version, str) or not re.search(r"\d+\.\d+", version):
        return Fate(LEAVE, f"no readable agent version ({version!r})")
    if not _PLAIN_VERSION.fullmatch(version):
        return Fate(EITHER, f"agent version {version!r} is not two to four plain numbers")
    parsed = parse_version(version)
    assert parsed is not None
    if parsed < rules.min_version:
        return Fate(LEAVE, f"agent {parsed[0]}.{parsed[1]} too old to upgrade itself: manual upgrade")
    if not sub.writable or machine.write_forbidden:
        return Fate(REFUSED, "no write permission: 403")
    if machine.locked or sub.rg_locked(machine.resource_group):
        return Fate(REFUSED, "ReadOnly lock: 409 ScopeLocked")
    if machine.write_conflicts:
        return Fate(PATCH, f"enable (after {machine.write_conflicts} transient 409 {machine.conflict_code})")
    return Fate(PATCH, "enable")


class FateLedger:
    """Every machine's fate, by id, fixed when the ledger is made (a fault that hides a machine from
    the product, such as a malformed Resource Graph id, may later :meth:`overrule` one)."""

    def __init__(self, fates: dict[str, Fate], rules: FateRules):
        self.rules = rules
        self._fates = fates

    @classmethod
    def of(cls, fleet: "Fleet", rules: FateRules = FateRules()) -> "FateLedger":
        return cls({m.id: decide(m, fleet, rules) for m in fleet.machines}, rules)

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
        """Machines a correct sweep PATCHes successfully."""
        return self.ids(PATCH)

    def must_not_patch(self) -> set[str]:
        """Machines no PATCH may be sent to."""
        return self.ids(LEAVE)

    def check(self, *, sent: set[str], succeeded: set[str]) -> list[str]:
        """What is wrong with a sweep, from the machine ids PATCHes were ``sent`` to and those that
        ``succeeded`` (``FleetSimulator.patch_targets``); empty when it did what it must."""
        problems = [f"not patched: {mid} ({self._fates[mid].reason})"
                    for mid in sorted(self.must_patch() - succeeded)]
        problems += [f"patched but must not be: {mid} ({self._fates[mid].reason})"
                     for mid in sorted(self.must_not_patch() & sent)]
        problems += [f"PATCH sent to a machine the fleet does not have: {mid}"
                     for mid in sorted(sent - set(self._fates))]
        return problems
