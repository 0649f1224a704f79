"""Durable activities: thin adapters from JSON messages to the Sweeper's steps."""

from activities.sweep_steps import bp

__all__ = ["bp"]
