"""ARM property bags and the change log every edit of one writes.

Machines and their extensions keep ``properties`` in ARM's own shape; whatever edits a bag
(a PATCH, an agent upgrading itself, the platform upgrading an extension) goes through
:func:`set_property`, so the Resource Graph index sees the machine's revision move and the
change log says what changed, when and why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_stack.simulator.extensions import Extension
    from local_stack.simulator.fleet import Machine

#: Record sink: (machine, field, old, new, at, cause[, extension name]). ``MISSING`` marks absent keys.
Recorder = Callable[..., None]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def format_timestamp(moment: datetime) -> str:
    """ARM style: UTC, seven fractional digits, ``Z`` (e.g. ``2025-11-19T23:34:02.9794112Z``)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def field_name(path: tuple[str, ...], extension: Extension | None = None) -> str:
    """How the change log names a property: ``properties.agentVersion`` on the machine,
    ``extensions/{name}.properties.typeHandlerVersion`` on one of its extensions."""
    prefix = f"extensions/{extension.name}." if extension is not None else ""
    return prefix + "properties." + ".".join(path)


def set_property(
    machine: Machine,
    path: tuple[str, ...],
    value: Any,
    at: datetime,
    cause: str,
    record: Recorder | None,
    *,
    extension: Extension | None = None,
) -> None:
    """Set (or with ``MISSING`` remove) ``properties.<path>`` of the machine, or of ``extension``
    (one of its extensions: Resource Graph indexes both under the machine), and record the change."""
    node = (extension if extension is not None else machine).properties
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            if value is MISSING:
                return
            child = node[key] = {}
        node = child
    old = node.get(path[-1], MISSING)
    if old == value and type(old) is type(value):
        return
    if value is MISSING:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    machine.revision += 1
    if record is not None:
        record(
            machine, field_name(path, extension), old, value, at, cause, extension.name if extension is not None else ""
        )
