"""Odd but legal estates: what Azure allows and a tidy test fleet never has.

``FleetSpec(odd_but_legal=True)`` appends the machines below to a generated fleet, drawn
from their own seeded stream (the ordinary part of the fleet is unchanged):

- one more subscription in each state (Enabled, Warned, PastDue, Disabled, Expired, Deleted);
- resource groups at the edges of ARM's grammar: 90 accented letters, about 50 CJK
  characters, Cyrillic, parentheses and dots, one character, digits only;
- machine names at the edges of theirs: 54 characters, dots and underscores, one character;
- the exclusion tag under any casing of its name, its value written ``exclude``,
  ``Exclude``, `` exclude `` or ``EXCLUDE`` (values are case-sensitive: under the
  documented rules only the first one is the tag);
- agents far from the release table: 1.0 to 1.20 (1.9 beside 1.10, which sort wrongly as
  text) and newer than the latest release (1.70, 1.100);
- agents one release behind that fail every attempt, and agents that never make one.

Each machine's ``oddity`` says what is odd about it; the fleet's ``fates`` (fates.py) say
what the sweep must do with it.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING

from local_stack.simulator import agents
from local_stack.simulator.agents import AgentModel, UpgradeBehaviour
from local_stack.simulator.fleet import (
    SUBSCRIPTION_STATES,
    Machine,
    Subscription,
    full_version,
    one_release_behind,
    seeded_guid,
)

if TYPE_CHECKING:
    from local_stack.simulator.generator import FleetSpec

ACCENTED_GROUP = "ÀÉÎÕÜåçñøß" * 9  # 90 letters: the longest legal name
CJK_GROUP = "東京本社サーバー群" * 5 + "資源組(本番)"  # 52 CJK characters with parentheses
RESOURCE_GROUPS = (ACCENTED_GROUP, CJK_GROUP, "rg_(prod)-eu.west.1", "Ресурсы-Прод", "Ünïcödé.Grüppe_(1)", "x", "1234")
MACHINE_NAMES = (("srv-01.corp_contoso.com-" * 3)[:54], "x", "7", "a.b_c-d", "SRV_01.Corp.Contoso.COM")
PLAIN_MINORS = (58, 59, 60, 62, 63, 64)  # supported, four-part builds (1.61's Linux one is odd)
VERY_OLD_MINORS = (0, 5, 9, 10, 20)
VERY_NEW_MINORS = (70, 100)


def _casings(name: str) -> tuple[str, ...]:
    """``arc-sweeper``, ``Arc-Sweeper``, ``ARC-SWEEPER``, ``aRc-sWeEpEr``."""
    title = "-".join(part.capitalize() for part in name.split("-"))
    alternating = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(name))
    return tuple(dict.fromkeys((name, title, name.upper(), alternating)))


def _spellings(value: str) -> tuple[str, ...]:
    """The value as written, then the spellings that are not it: capitalised, padded, shouted."""
    return tuple(dict.fromkeys((value, value.capitalize(), f" {value} ", value.upper())))


class _Builder:
    """Machines with realistic, seeded details; each call names the one thing that is odd."""

    def __init__(self, spec: FleetSpec, model: AgentModel, rng: random.Random):
        self.spec, self.model, self.rng = spec, model, rng
        self.machines: list[Machine] = []

    def add(
        self,
        sub: Subscription,
        oddity: str,
        *,
        rg: str | None = None,
        name: str | None = None,
        os_type: str | None = None,
        version: str | None = None,
        tags: dict[str, str] | None = None,
        outcome: str = agents.SUCCEED,
    ) -> Machine:
        rng, spec = self.rng, self.spec
        os_type = os_type or rng.choice(("windows", "linux"))
        lo, hi = spec.propagation_delay
        machine = Machine.build(
            sub.subscription_id,
            rg or rng.choice(RESOURCE_GROUPS),
            name or f"odd-{len(self.machines):03d}",
            os_type=os_type,
            agent_version=version or full_version(rng.choice(PLAIN_MINORS), os_type),
            auto_upgrade=rng.choice((None, False)),
            location=rng.choice(list(spec.locations)),
            last_status_change=spec.now - timedelta(days=rng.uniform(0.5, 60)),
            tags=dict(tags or {}),
            behaviour=UpgradeBehaviour(
                outcome=outcome,
                failures=1,
                propagation_delay=lo + (hi - lo) * rng.random(),
                window_offset=spec.window_length * rng.random(),
                failure_message=rng.choice(agents.FAILURE_MESSAGES),
            ),
            oddity=oddity,
        )
        self.machines.append(machine)
        return machine


def odd_but_legal(spec: FleetSpec, model: AgentModel) -> tuple[list[Subscription], list[Machine]]:
    """The odd subscriptions and machines for ``spec``: the same for the same seed."""
    rng = random.Random(f"odd:{spec.seed}")
    subs = {state: Subscription(seeded_guid(rng), f"Odd-{state}", state=state) for state in SUBSCRIPTION_STATES}
    home = subs["Enabled"]
    build = _Builder(spec, model, rng)

    for state, sub in subs.items():
        build.add(sub, f"subscription state {state}")
    for rg in RESOURCE_GROUPS:
        build.add(home, f"resource group {rg!r} ({len(rg)} characters)", rg=rg)
    for name in MACHINE_NAMES:
        build.add(home, f"machine name {name!r} ({len(name)} characters)", name=name)
    for tag_name in _casings(spec.exclusion_tag):
        for value in _spellings(spec.exclusion_value):
            build.add(home, f"tag {tag_name!r}={value!r}", tags={tag_name: value, "Owner": "Ops Team"})
    for minor in VERY_OLD_MINORS + VERY_NEW_MINORS:
        build.add(home, f"agent 1.{minor}", version=full_version(minor, "linux"), os_type="linux")
    for os_type in ("windows", "linux"):
        behind = one_release_behind(model, os_type)
        build.add(
            home,
            f"agent {behind}, one release behind, fails every attempt",
            os_type=os_type,
            version=behind,
            outcome=agents.STUCK,
        )
        build.add(
            home,
            f"agent {behind}, one release behind, never attempts",
            os_type=os_type,
            version=behind,
            outcome=agents.NEVER_ATTEMPTS,
        )
    latest = model.target_version("linux")
    build.add(
        home,
        f"agent {latest}, the latest, never attempts",
        os_type="linux",
        version=latest,
        outcome=agents.NEVER_ATTEMPTS,
    )
    return list(subs.values()), build.machines
