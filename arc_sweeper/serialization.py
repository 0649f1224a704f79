"""One serializer for everything the product persists: activity messages and table rows.

Durable Functions stores activity inputs and outputs as JSON, and Table Storage stores
flat entities, so both need the same explicit conversion of our frozen dataclasses:
`to_json` gives plain JSON values; `from_json` rebuilds the dataclass from its type
hints (nested dataclasses, tuples, dicts, optionals and enums) and refuses anything that
is not a JSON object. Entities add one rule: collections are stored as JSON text.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """Plain JSON values: dataclasses become objects, tuples lists, enums their text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: to_json(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return value


def from_json(cls: type[T], data: Any) -> T:
    """Rebuild `cls` from `to_json` output; missing fields take their defaults."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
    values = {name: _convert(hint, data[name]) for name, hint in _hints(typing.cast(type, cls)) if name in data}
    return cls(**values)


def to_entity(record: Any, partition_key: str, row_key: str, *, clip_text: int | None = None) -> dict[str, Any]:
    """A Table Storage entity: scalar fields stay typed, collections become JSON text."""
    entity: dict[str, Any] = {"PartitionKey": partition_key, "RowKey": row_key}
    for name, value in to_json(record).items():
        if isinstance(value, (list, dict)):
            value = json.dumps(value, sort_keys=True, ensure_ascii=False)
        elif isinstance(value, str) and clip_text is not None and len(value) > clip_text:
            value = value[: clip_text - 1] + "…"
        entity[name] = value
    return entity


def from_entity(cls: type[T], entity: dict[str, Any]) -> T:
    """Rebuild a record from an entity, tolerating missing or null columns (older rows)."""
    values: dict[str, Any] = {}
    for name, hint in _hints(typing.cast(type, cls)):
        value = entity.get(name)
        if value is None:
            continue
        if isinstance(value, str) and _is_collection(hint):
            value = json.loads(value) if value else None
            if value is None:
                continue
        values[name] = value
    return from_json(cls, values)


@cache
def _hints(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, type hint) of each field; get_type_hints is slow and rows are read by the thousand."""
    hints = typing.get_type_hints(cls)
    return tuple((item.name, hints[item.name]) for item in dataclasses.fields(cls))


def _is_collection(hint: Any) -> bool:
    hint = _without_none(hint)
    origin = typing.get_origin(hint)
    return origin in (tuple, list, dict) or (isinstance(hint, type) and dataclasses.is_dataclass(hint))


def _without_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    hint = _without_none(hint)
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return (
            tuple(_convert(inner, item) for item in value)
            if origin is tuple
            else [_convert(inner, item) for item in value]
        )
    if origin is dict:
        args = typing.get_args(hint)
        inner = args[1] if len(args) == 2 else Any
        return {key: _convert(inner, item) for key, item in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_json(hint, value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:  # a value this version does not know (a newer row): kept as its text
            return value
    return value
