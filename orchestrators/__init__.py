"""Durable orchestrations: they decide what runs when, and do no I/O themselves."""

from orchestrators.sweep import bp

__all__ = ["bp"]
