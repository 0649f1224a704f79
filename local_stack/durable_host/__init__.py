"""Replay-faithful local stand-in for the Functions host + Durable extension (dev/test only).

Production runs on real Durable Functions. This harness drives the app's orchestrators through
the real azure-functions-durable handler the way the extension does: every episode rebuilds the
whole history as JSON, calls the registered handler, and turns the returned action list into
work by re-enacting the extension's OutOfProcOrchestrationShim on top of DTFx rules (sequence ids,
non-determinism checks, RetryInterceptor timers, the 6-day timer limit, sub-orchestrations,
continue-as-new, external events). Protocol details: the project's reference notes,
shared/reference/durable-functions-python.md, sections 2-9 and 11.

Entry point: :class:`LocalDurableHost`. Modules, in reading order:

- ``history``: event types, .NET timestamps, event builders, the context JSON;
- ``shim``: what the extension does with one episode's actions (ids, non-determinism);
- ``episode``: one handler call, from inbox batch to verdict;
- ``instances``: an instance's state and the :class:`InstanceInfo` snapshot;
- ``worker``: running activities and client functions as the Python worker does;
- ``worker_processes``: optionally, activities in worker processes of their own (a scaled-out app);
- ``management``: the durable client binding and HTTP management API;
- ``host``: the loop tying them together (timers, virtual clock, thread pool);
- ``sdk_seam``: every use of SDK internals, checked by tests/local_host/test_sdk_contract.py.

Approximations and gaps (a harness, not a product): entities, call_http, suspend/resume/rewind/
restart and replay schema V1 are rejected or unimplemented; no storage limits, large-message
offload, throttles, latency or at-least-once redelivery. Terminate takes effect immediately and
does not notify a parent. An unknown activity fails like the extension's
TaskNonexistentActivityShim; an unknown or still-running sub-orchestration target fails the
sub-orchestration task. Any single timer longer than 6 days is rejected (Azure Storage limit);
the SDK splits long timers itself, so this only fires when splitting was bypassed. Activities
receive only their trigger argument (no ``context`` parameter).
"""

from .host import LocalDurableHost
from .instances import DurableHostError, InstanceInfo
from .worker_processes import WorkerProcesses, WorkerReport

__all__ = ["LocalDurableHost", "InstanceInfo", "DurableHostError", "WorkerProcesses", "WorkerReport"]
