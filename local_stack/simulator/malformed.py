"""A fault: Resource Graph rows whose ``id`` is not a well-formed id of this machine.

Azure is not expected to send these. They exist because the product builds ARM request
paths from the ``id`` column: an id that would steer a PATCH somewhere else (another
resource type, a child resource, a subscription outside the query's scope, a path that
normalises differently, a query string or fragment smuggled in) must be refused, not
followed or "cleaned up". ARM itself still knows each machine by its real id.

The fleet's fate ledger marks such a machine ``leave``, so ``fates.check`` reports a
product that follows the row: a PATCH to a path that is no machine, or to the machine
itself, since HTTP clients rewrite some of these ids before sending (``requests`` drops
``#...`` and resolves ``/../`` and ``/./``) and ARM ignores a trailing ``/``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from local_stack.simulator.fates import LEAVE, Fate

if TYPE_CHECKING:
    from local_stack.simulator.fleet import Fleet, Machine

_PROVIDER = "/providers/Microsoft.HybridCompute/machines/"


def _foreign_subscription(machine: Machine) -> str:
    """A subscription id that is in no fleet, so it is outside any query's scope."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "foreign:" + machine.id.lower()))


#: kind -> the id Resource Graph reports, from (``/subscriptions/{sub}/resourceGroups/{rg}``, name, machine).
KINDS: dict[str, Callable[[str, str, Machine], str]] = {
    "fragment": lambda head, name, m: m.id + "#frag",
    "query-string": lambda head, name, m: m.id + "?api-version=2015-01-01",
    "dot-dot": lambda head, name, m: f"{head}/../{head.rsplit('/', 1)[1]}{_PROVIDER}{name}",
    "dot-segment": lambda head, name, m: f"{head}/.{_PROVIDER}{name}",
    "whitespace": lambda head, name, m: f" {m.id}\t",
    "control-character": lambda head, name, m: f"{head}{_PROVIDER}{name[:1]}\x07{name[1:]}",
    "trailing-slash": lambda head, name, m: m.id + "/",
    "other-type": lambda head, name, m: f"{head}/providers/Microsoft.Compute/virtualMachines/{name}",
    "child-resource": lambda head, name, m: m.id + "/extensions/AzureMonitorLinuxAgent",
    "foreign-subscription": lambda head, name, m: m.id.replace(m.subscription_id, _foreign_subscription(m), 1),
}


def malformed_id(machine: Machine, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown malformed id kind {kind!r}; use one of {', '.join(KINDS)}")
    head, _, name = machine.id.partition(_PROVIDER)
    return KINDS[kind](head, name, machine)


def corrupt_arg_ids(
    fleet: Fleet, kinds: Iterable[str] = tuple(KINDS), *, seed: int = 0, candidates: list[Machine] | None = None
) -> dict[str, Machine]:
    """Give one machine per kind a malformed Resource Graph id; returns kind -> machine.

    Machines are drawn (seeded) from ``candidates``, by default every machine Resource
    Graph shows (not deleted, in a visible subscription). The change shows in the next
    query; ARM GET and PATCH are unaffected.
    """
    kinds = list(kinds)
    if candidates is None:
        candidates = [m for m in fleet.machines if fleet.subscription(m.subscription_id).visible]
    pool = [m for m in candidates if not m.deleted and m.arg_id is None]
    if len(pool) < len(kinds):
        raise ValueError(f"{len(kinds)} kinds need as many machines; {len(pool)} available")
    chosen = random.Random(seed).sample(pool, len(kinds))
    for kind, machine in zip(kinds, chosen, strict=True):
        machine.arg_id = malformed_id(machine, kind)
        machine.revision += 1
        if fleet.fates is not None:  # the product only knows it by a bad id: it must leave it alone
            fleet.fates.overrule(machine.id, Fate(LEAVE, f"Resource Graph reports a malformed id ({kind})"))
    return dict(zip(kinds, chosen, strict=True))
