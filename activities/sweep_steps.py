"""Each activity decodes its message, runs one step of arc_sweeper.steps and encodes the result."""

from __future__ import annotations

import azure.durable_functions as df

from arc_sweeper.messages import (
    BatchFailure,
    CheckCohort,
    ChunkFailure,
    DiscoverBatch,
    EnableChunk,
    EvaluateRings,
    PhaseEnd,
    StartRun,
)
from arc_sweeper.runtime import steps

bp = df.Blueprint()


@bp.activity_trigger(input_name="message")
def start_run(message: dict) -> dict:
    return steps().scope.start_run(StartRun.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def evaluate_rings(message: dict) -> dict:
    return steps().rings.evaluate(EvaluateRings.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def discover_machines(message: dict) -> dict:
    return steps().discovery.discover_batch(DiscoverBatch.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def record_batch_not_swept(message: dict) -> None:
    steps().discovery.mark_not_swept(BatchFailure.from_json(message))


@bp.activity_trigger(input_name="message")
def enable_machines(message: dict) -> dict:
    """One chunk of machines or of extensions (EnableChunk.target); the name stays for running histories."""
    return steps().enabling.enable_chunk(EnableChunk.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def abandon_chunk(message: dict) -> dict:
    return steps().enabling.abandon_chunk(ChunkFailure.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def check_cohort(message: dict) -> dict:
    return steps().follow_up.check_cohort(CheckCohort.from_json(message)).to_json()


@bp.activity_trigger(input_name="message")
def finish_enabling(message: dict) -> int:
    return steps().closing.finish_enabling(PhaseEnd.from_json(message))


@bp.activity_trigger(input_name="message")
def finish_run(message: dict) -> None:
    steps().closing.finish_run(PhaseEnd.from_json(message))


@bp.activity_trigger(input_name="message")
def record_failure(message: dict) -> None:
    steps().closing.record_failure(PhaseEnd.from_json(message))
