"""The product's vocabulary: every named state a machine, a run or an alert can be in.

One place, as `enum.StrEnum`: the values are what Table Storage rows, alerts and the HTTP
API carry, and the declaration order is the order reports and alerts use (most urgent
first where it matters), so no list elsewhere has to be kept in step by hand. Members
compare equal to their text, so a row read back from storage matches without `.value`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class Explained(StrEnum):
    """A member that carries the sentence reports print for it: NAME = ("value", "explanation")."""

    explanation: str

    def __new__(cls, value: str, explanation: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.explanation = explanation
        return member


class Finding(Explained):
    """What is wrong (or right) with one machine; a machine may have several."""

    COMPLIANT = ("compliant", "Agent is connected, supported and upgrades itself automatically: nothing to do.")
    AUTO_UPGRADE_OFF = (
        "auto_upgrade_off",
        "Automatic agent upgrade is off (agentUpgrade.enableAutomaticUpgrade is false or not set).",
    )
    TOO_OLD_FOR_AUTO_UPGRADE = (
        "too_old_for_auto_upgrade",
        "Agent is older than the minimum version for automatic upgrade (1.57 unless configured otherwise),"
        " so it cannot upgrade itself: upgrade it manually (MSI, package manager, WSUS or Run Command).",
    )
    OUT_OF_SUPPORT = (
        "out_of_support",
        "Agent release is older than the support window: Microsoft supports only agents released within the last year.",
    )
    NOT_CONNECTED = (
        "not_connected",
        "Machine is not connected (Disconnected, Error, AwaitingConnection or an unknown status):"
        " it cannot act on settings until it reconnects.",
    )
    EXPIRED = (
        "expired",
        "Machine has expired after 45 days disconnected: an administrator must disconnect and reconnect"
        " it before Azure Arc can manage it again.",
    )
    EXCLUDED = ("excluded", "Machine carries the exclusion tag: the sweeper reports it but never changes it.")
    UNKNOWN_VERSION = (
        "unknown_version",
        "Agent version is missing or unreadable, so its age and support cannot be judged.",
    )
    UNRECOGNISED_ID = (
        "unrecognised_id",
        "Resource Graph returned an id that is not a Microsoft.HybridCompute/machines id of the"
        " subscription it reported: the sweeper never builds a request from it.",
    )


class ExtensionFinding(Explained):
    """What is wrong (or right) with one machine extension; an extension may have several."""

    OK = ("ok", "Supported by automatic extension upgrade, opted in, provisioned: nothing to do.")
    AUTO_UPGRADE_OFF = (
        "ext_auto_upgrade_off",
        "Someone opted this supported extension out of automatic upgrade (enableAutomaticUpgrade"
        " false): it stays on its version forever.",
    )
    PROVISIONING_FAILED = ("ext_provisioning_failed", "The extension failed to provision; see its status message.")
    BEHIND = ("ext_behind", "Older than the newest version of the same extension seen in the estate.")
    UNSUPPORTED = (
        "ext_unsupported",
        "Not supported by automatic extension upgrade: only reported, upgraded by its owner.",
    )
    MACHINE_NOT_CONNECTED = (
        "ext_machine_not_connected",
        "Its machine is not connected, so the extension cannot be upgraded now.",
    )
    EXCLUDED = ("ext_excluded", "Its machine carries the exclusion tag: reported, never changed.")
    DENIED = ("ext_denied", "Its type is on EXTENSION_DENY_LIST: reported, never changed.")


class ExtensionOutcome(StrEnum):
    """What became of an extension the follow-up watched."""

    UPGRADED = "ext_upgraded"  # a newer version than when the run saw it
    CURRENT = "ext_current"  # still the newest version of its type in the estate, and healthy
    FAILING = "ext_failing"  # provisioning failed or its status is an error; a failed upgrade rolls back, and
    # stays failing until a newer version shows
    UNCHANGED = "ext_unchanged"  # still the version the run saw, which is behind (or not yet checked)
    GONE = "ext_gone"


SETTLED_EXTENSION_OUTCOMES = frozenset({ExtensionOutcome.UPGRADED, ExtensionOutcome.CURRENT, ExtensionOutcome.GONE})
"""Extension outcomes no later poll is waited for."""


class Target(StrEnum):
    """What an enabling chunk PATCHes: machines (the agent's flag) or machine extensions (theirs)."""

    MACHINES = "machines"
    EXTENSIONS = "extensions"


class ExtensionMode(StrEnum):
    """EXTENSION_UPGRADE_MODE: how far the sweeper goes with machine extensions."""

    OFF = "off"  # extensions are not read
    REPORT = "report"  # read, classified, followed, reported; never written
    ENABLE = "enable"  # also PATCH supported extensions whose automatic upgrade is off


class Action(Explained):
    """The one thing the sweeper does about a machine."""

    ENABLE_AUTO_UPGRADE = ("enable_auto_upgrade", "Turn on automatic agent upgrade with an ARM PATCH of agentUpgrade.")
    MANUAL_UPGRADE = (
        "manual_upgrade",
        "Report for a manual upgrade: the agent is too old to upgrade itself, whatever the flag says.",
    )
    NONE = ("none", "Nothing for the sweeper to change.")


class EnableResult(StrEnum):
    """What came of the enabling action for one machine."""

    ENABLED = "enabled"
    DRY_RUN = "dry_run"  # would have been enabled; nothing was sent
    FAILED = "failed"  # ARM refused, or the outcome stayed unknown; see arm_error_code
    NOT_ATTEMPTED = "not_attempted"
    SENDING = "sending"  # intent recorded, no answer recorded yet: read the machine before a retry
    DEFERRED = "deferred"  # its ring is not open yet (staged rollout): nothing was sent


class Outcome(StrEnum):
    """What became of an enabled machine during the follow-up."""

    UPGRADED = "upgraded"  # the agent reported a newer version, or an upgrade attempt succeeded
    UP_TO_DATE = "up_to_date"  # already current when enabled, and no attempt seen: nothing to upgrade
    PENDING = "pending"
    UPGRADE_FAILED = "upgrade_failed"
    STUCK = "stuck"
    DISCONNECTED = "disconnected"
    GONE = "gone"


SETTLED_OUTCOMES = frozenset({Outcome.UPGRADED, Outcome.STUCK, Outcome.GONE})
"""Outcomes that no later poll will change: the follow-up stops once every machine has one.
UP_TO_DATE is not settled: a current agent may still attempt (and fail) an upgrade within the window."""


class Severity(StrEnum):
    """How serious an alert or an attention item is; declared least to most severe."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class AttentionKind(StrEnum):
    """Why a machine or subscription needs an operator; declared most urgent first."""

    severity: Severity

    def __new__(cls, value: str, severity: Severity) -> AttentionKind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.severity = severity
        return member

    ENABLE_FAILED = ("enable_failed", Severity.ERROR)  # the PATCH was refused (ARM code + message)
    SUBSCRIPTION_NOT_SWEPT = ("subscription_not_swept", Severity.ERROR)  # Resource Graph could not be read for it
    UPGRADE_STUCK = ("upgrade_stuck", Severity.ERROR)  # failed for longer than STUCK_AFTER
    # A held ring stops the rollout of a whole ring: one item per ring, first of the warnings, so that the
    # per-machine warnings of a large estate never push it out of a capped alert.
    RING_HELD = ("ring_held", Severity.WARNING)  # a ring's gate failed: its machines wait
    UPGRADE_FAILED = ("upgrade_failed", Severity.WARNING)  # lastAttemptStatus Failed, still retrying
    MANUAL_UPGRADE_NEEDED = ("manual_upgrade_needed", Severity.WARNING)  # agent below the automatic-upgrade minimum
    OUT_OF_SUPPORT = ("out_of_support", Severity.WARNING)
    EXPIRED = ("expired", Severity.WARNING)
    NOT_CONNECTED = ("not_connected", Severity.WARNING)
    UNKNOWN_VERSION = ("unknown_version", Severity.INFO)
    SUBSCRIPTION_SKIPPED = ("subscription_skipped", Severity.WARNING)
    EXTENSION_FAILED = ("extension_failed", Severity.WARNING)  # provisioning failed, or its upgrade failed
    EXTENSION_OPTED_OUT = ("extension_opted_out", Severity.INFO)  # a supported extension opted out
    EXTENSION_FAR_BEHIND = ("extension_far_behind", Severity.INFO)  # two or more versions behind the estate


class AlertKind(StrEnum):
    """Which alert the Logic App receives."""

    SWEEP_COMPLETED = "sweep_completed"  # the day's digest, once enabling is done
    FOLLOW_UP_COMPLETED = "follow_up_completed"  # the cohort's final outcome
    SWEEP_FAILED = "sweep_failed"  # the run stopped with an error


class DeliveryStatus(StrEnum):
    """What happened to one alert."""

    DELIVERED = "delivered"
    SKIPPED_NO_URL = "skipped_no_url"
    FAILED = "failed"


class RingState(StrEnum):
    """Where a ring of the staged rollout stands."""

    OPEN = "open"  # its machines are enabled
    WAITING = "waiting"  # the ring before it is still soaking, or not open yet
    HELD = "held"  # the ring before it failed the gate


class RunStatus(StrEnum):
    RUNNING = "running"  # discovering and enabling (phases starting and sweeping)
    FOLLOWING = "following"  # enabling done, following the cohort for days
    COMPLETED = "completed"
    FAILED = "failed"


class RunPhase(StrEnum):
    STARTING = "starting"
    SWEEPING = "sweeping"  # discovering machines and enabling automatic upgrade
    FOLLOWING = "following"
    DONE = "done"


class Trigger(StrEnum):
    """What started a run."""

    TIMER = "timer"
    HTTP = "http"
    CLI = "cli"
    UNKNOWN = "unknown"  # only for a run whose row was lost before it failed
