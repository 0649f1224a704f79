"""The committed alert schema, and a check that lists every violation of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from local_stack.alert_receiver import load_alert_schema


@pytest.fixture(scope="session")
def alert_schema() -> dict[str, Any]:
    schema = load_alert_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


@pytest.fixture(scope="session")
def assert_valid(alert_schema: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    validator = jsonschema.Draft7Validator(alert_schema)

    def check(payload: dict[str, Any]) -> None:
        problems = [
            f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(payload)
        ]
        assert not problems, "payload does not match the schema:\n" + "\n".join(problems)

    return check
