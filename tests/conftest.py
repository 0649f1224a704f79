"""Shared fixtures: one Azurite for the whole session, a fresh table prefix per test."""

from __future__ import annotations

import itertools

import pytest

from local_stack.azurite import start_azurite

_prefixes = itertools.count(1)


@pytest.fixture(scope="session")
def azurite():
    with start_azurite() as running:
        yield running


@pytest.fixture
def table_prefix() -> str:
    """Tables of one test never collide with another's in the shared Azurite."""
    return f"t{next(_prefixes)}x"
