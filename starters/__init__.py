"""Triggers that start and inspect sweeps: the daily timer and the HTTP API."""

from starters.triggers import bp

__all__ = ["bp"]
