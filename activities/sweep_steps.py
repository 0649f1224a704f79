"""Each activity decodes its message, runs one Sweeper step and encodes the result."""
from __future__ import annotations

import azure.durable_functions as df

from arc_sweeper.messages import CheckCohort, DiscoverBatch, EnableChunk, PhaseEnd, StartRun
from arc_sweeper.runtime import sweeper

bp = df.Blueprint()


@bp.activity_trigger(input_name="message")
def start_run(message: dict) -> dict:
    return sweeper().start_run(StartRun.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def discover_machines(message: dict) -> dict:
    return sweeper().discover_batch(DiscoverBatch.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def enable_machines(message: dict) -> dict:
    return sweeper().enable_chunk(EnableChunk.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def check_cohort(message: dict) -> dict:
    return sweeper().check_cohort(CheckCohort.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def finish_enabling(message: dict) -> int:
    return sweeper().finish_enabling(PhaseEnd.from_json(message))


@bp.activity_trigger(input_name="message")
def finish_run(message: dict) -> None:
    sweeper().finish_run(PhaseEnd.from_json(message))


@bp.activity_trigger(input_name="message")
def record_failure(message: dict) -> None:
    sweeper().record_failure(PhaseEnd.from_json(message))
