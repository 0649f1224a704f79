"""Azure Table Storage: the product's memory. Entry point: :class:`SweepStore`.

Reached only through the `AzureWebJobsStorage` connection (or identity-based settings in
Azure), like the Durable Functions task hub. Every write is an upsert keyed
deterministically, in transactions of up to 100 rows of one partition, so a retried
activity rewrites the same rows rather than duplicating them.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from functools import partial
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableServiceClient, UpdateMode

from arc_sweeper.leases import EnablingLeases
from arc_sweeper.records import (
    ExtensionRecord,
    FleetRecord,
    MachineRecord,
    ObservedRelease,
    RingRecord,
    RunRecord,
    SubscriptionRecord,
    machine_partition,
)
from arc_sweeper.serialization import from_entity, to_entity
from arc_sweeper.text import MAX_TEXT
from arc_sweeper.vocabulary import EnableResult

TRANSACTION_LIMIT = 100
TRANSACTIONS_IN_FLIGHT = 8
"""Transactions one write has in flight at once. Each is a blocking round trip: sent one after
another, discovery's thousands of rows wait on round trips in turn. A few at once overlap them;
the bound keeps threads few when many activities write at once, and within the HTTP client's
10 pooled connections per host, so connections are reused."""
STORAGE_TIMEOUTS: dict[str, Any] = {"connection_timeout": 300.0, "read_timeout": 300.0}
"""Seconds to connect and to wait for an answer: azure-core's defaults, kept on purpose. A write that
storage is slow to take is better waited for. One that fails (after UPSERT_RETRY_METHODS' tries) costs its
activity a retry 30 s later, and three failures in a row give up the chunk: its machines wait for the next
day's sweep. Measured at the 100,000-machine benchmark's burst (32 processes writing to one Azurite): with
10 s to connect and 60 s to answer, 574 writes failed and 114 machines were not PATCHed; with 300 s, 128
failed and none was missed (but 2 that disconnected during the run)."""
UPSERT_RETRY_METHODS = frozenset({"POST"})
"""What azure-core's retry policy may send again after a dropped connection or a timeout, given for our
upsert transactions only (a transaction is one POST). azure-core never resends a POST that got no answer,
since a POST may not be safe to repeat; a transaction of upserts is (it writes the same rows again), so
a connection storage resets costs the write another try within seconds instead of its activity a retry
30 s later. Not for inserts (`create_entity`, also a POST): repeated after an unknown outcome, one
would answer 409."""
RUN_PARTITION = "run"
RELEASE_PARTITION = "release"
RING_PARTITION = "ring"


def _odata_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def table_service_from_settings(connection: str, env: Mapping[str, str]) -> TableServiceClient:
    """Identity-based `AzureWebJobsStorage__*` settings when present (Azure), else the connection string."""
    endpoint = env.get("AzureWebJobsStorage__tableServiceUri") or (
        f"https://{env['AzureWebJobsStorage__accountName']}.table.core.windows.net"
        if env.get("AzureWebJobsStorage__accountName")
        else ""
    )
    if not endpoint:
        if not connection:
            raise ValueError(
                "AzureWebJobsStorage: set a connection string (UseDevelopmentStorage=true for Azurite) "
                "or identity-based AzureWebJobsStorage__tableServiceUri"
            )
        return TableServiceClient.from_connection_string(connection, **STORAGE_TIMEOUTS)
    from azure.identity import DefaultAzureCredential

    client_id = env.get("AzureWebJobsStorage__clientId") or None
    return TableServiceClient(
        endpoint, credential=DefaultAzureCredential(managed_identity_client_id=client_id), **STORAGE_TIMEOUTS
    )


class SweepStore:
    def __init__(self, service: TableServiceClient, prefix: str) -> None:
        self._runs = service.get_table_client(f"{prefix}runs")
        self._subscriptions = service.get_table_client(f"{prefix}subscriptions")
        self._machines = service.get_table_client(f"{prefix}machines")
        self._extensions = service.get_table_client(f"{prefix}extensions")
        self._fleet = service.get_table_client(f"{prefix}fleet")
        self._leases = service.get_table_client(f"{prefix}leases")
        self._releases = service.get_table_client(f"{prefix}releases")
        self._rings = service.get_table_client(f"{prefix}rings")
        self.leases = EnablingLeases(self._leases)

    @classmethod
    def from_connection_string(cls, connection: str, prefix: str) -> SweepStore:
        return cls(TableServiceClient.from_connection_string(connection, **STORAGE_TIMEOUTS), prefix)

    def create_tables(self) -> None:
        for table in (
            self._runs,
            self._subscriptions,
            self._machines,
            self._extensions,
            self._fleet,
            self._leases,
            self._releases,
            self._rings,
        ):
            with contextlib.suppress(ResourceExistsError):
                table.create_table()

    # runs ---------------------------------------------------------------------------------
    def put_run(self, run: RunRecord) -> None:
        self._runs.upsert_entity(_entity(run, RUN_PARTITION, run.run_id), mode=UpdateMode.REPLACE)

    def get_run(self, run_id: str) -> RunRecord | None:
        try:
            entity = self._runs.get_entity(RUN_PARTITION, run_id)
        except ResourceNotFoundError:
            return None
        return from_entity(RunRecord, entity)

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        run = self.get_run(run_id)
        if run is None:
            raise LookupError(f"run {run_id} has no row in the runs table")
        run = replace(run, **changes)
        self.put_run(run)
        return run

    def runs_with_status(self, status: str) -> list[RunRecord]:
        """Runs in this status; none before the first run has created the tables."""
        query = f"PartitionKey eq '{RUN_PARTITION}' and status eq {_odata_literal(status)}"
        try:
            return [from_entity(RunRecord, e) for e in self._runs.query_entities(query)]
        except ResourceNotFoundError:
            return []

    def all_runs(self) -> list[RunRecord]:
        """Every run row; none before the first run has created the tables."""
        try:
            return [from_entity(RunRecord, e) for e in self._runs.query_entities(f"PartitionKey eq '{RUN_PARTITION}'")]
        except ResourceNotFoundError:
            return []

    # subscriptions ------------------------------------------------------------------------
    def put_subscriptions(self, records: Iterable[SubscriptionRecord]) -> None:
        self._upsert(self._subscriptions, (_entity(r, r.run_id, r.subscription_id) for r in records))

    def subscriptions(self, run_id: str, batch_index: int | None = None) -> list[SubscriptionRecord]:
        query = f"PartitionKey eq {_odata_literal(run_id)}"
        if batch_index is not None:
            query += f" and batch_index eq {int(batch_index)}"
        return [from_entity(SubscriptionRecord, e) for e in self._subscriptions.query_entities(query)]

    # machines -----------------------------------------------------------------------------
    def put_machines(self, records: Iterable[MachineRecord]) -> None:
        self._upsert(self._machines, (_entity(r, r.partition_key, r.row_key) for r in records))

    def machines(
        self, run_id: str, subscription_id: str, *, enable_chunk: int | None = None, enabled_only: bool = False
    ) -> list[MachineRecord]:
        """One subscription's rows of a run (optionally one enabling chunk, or the enabled cohort), by row key."""
        query = _run_rows_query(run_id, subscription_id, enable_chunk)
        if enabled_only:
            query += f" and action_result eq {_odata_literal(EnableResult.ENABLED)}"
        rows = [from_entity(MachineRecord, e) for e in self._machines.query_entities(query)]
        return sorted(rows, key=lambda r: r.row_key)

    def all_machines(
        self, run_id: str, subscriptions: list[SubscriptionRecord] | None = None
    ) -> Iterator[MachineRecord]:
        """Every row of a run; pass the run's subscriptions if already read."""
        for subscription in self.subscriptions(run_id) if subscriptions is None else subscriptions:
            if subscription.in_scope:
                yield from self.machines(run_id, subscription.subscription_id)

    # extensions ---------------------------------------------------------------------------
    def put_extensions(self, records: Iterable[ExtensionRecord]) -> None:
        self._upsert(self._extensions, (_entity(r, r.partition_key, r.row_key) for r in records))

    def extensions(
        self, run_id: str, subscription_id: str, *, enable_chunk: int | None = None, followed_only: bool = False
    ) -> list[ExtensionRecord]:
        """One subscription's extension rows of a run (optionally one enabling chunk, or the followed ones)."""
        query = _run_rows_query(run_id, subscription_id, enable_chunk)
        if followed_only:
            query += " and followed eq true"
        rows = [from_entity(ExtensionRecord, e) for e in self._extensions.query_entities(query)]
        return sorted(rows, key=lambda r: r.row_key)

    def extension_versions(self, run_id: str, subscription_id: str) -> list[tuple[str, str, str]]:
        """(publisher, type, version) of each of one subscription's extension rows: all ranking reads."""
        columns = ["publisher", "extension_type", "version_seen"]
        entities = self._extensions.query_entities(_run_rows_query(run_id, subscription_id, None), select=columns)
        return [
            (str(e.get("publisher", "")), str(e.get("extension_type", "")), str(e.get("version_seen", "")))
            for e in entities
        ]

    # releases -----------------------------------------------------------------------------
    def observed_releases(self) -> list[ObservedRelease]:
        return [
            from_entity(ObservedRelease, e)
            for e in self._releases.query_entities(f"PartitionKey eq {_odata_literal(RELEASE_PARTITION)}")
        ]

    def record_release(self, release: ObservedRelease) -> None:
        try:
            self._releases.create_entity(_entity(release, RELEASE_PARTITION, release.release))
        except ResourceExistsError:
            pass  # seen before: the first sighting stays

    # rings --------------------------------------------------------------------------------
    def rings(self) -> dict[int, RingRecord]:
        query = f"PartitionKey eq {_odata_literal(RING_PARTITION)}"
        try:
            return {int(e["RowKey"]): from_entity(RingRecord, e) for e in self._rings.query_entities(query)}
        except ResourceNotFoundError:  # no run has made the tables yet
            return {}

    def put_rings(self, records: Iterable[RingRecord]) -> None:
        self._upsert(self._rings, (_entity(r, RING_PARTITION, f"{r.ring:04d}") for r in records))

    # fleet --------------------------------------------------------------------------------
    def fleet_everywhere(self) -> Iterator[FleetRecord]:
        """Every machine the sweeper has seen, in every subscription (the rings' health is estate-wide)."""
        for entity in self._fleet.list_entities():
            yield from_entity(FleetRecord, entity)

    def fleet(self, subscription_id: str) -> dict[str, FleetRecord]:
        query = f"PartitionKey eq {_odata_literal(subscription_id.lower())}"
        return {e["RowKey"]: from_entity(FleetRecord, e) for e in self._fleet.query_entities(query)}

    def put_fleet(self, records: Iterable[FleetRecord]) -> None:
        self._upsert(self._fleet, (_entity(r, r.subscription_id.lower(), r.row_key) for r in records))

    def merge_fleet(self, subscription_id: str, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Set a few columns of existing fleet rows ({row key: {column: value}}) without reading them."""
        self._upsert(
            self._fleet,
            ({"PartitionKey": subscription_id.lower(), "RowKey": key, **columns} for key, columns in changes.items()),
            mode=UpdateMode.MERGE,
        )

    # --------------------------------------------------------------------------------------
    @staticmethod
    def _upsert(table: Any, entities: Iterable[dict[str, Any]], mode: UpdateMode = UpdateMode.REPLACE) -> None:
        """Upsert in transactions of at most 100 rows of one partition (Azure's limit), several at once."""
        by_partition: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for entity in entities:
            by_partition[entity["PartitionKey"]][entity["RowKey"]] = entity  # last write wins
        transactions = []
        for rows in by_partition.values():
            batch = list(rows.values())
            transactions += [
                [("upsert", e, {"mode": mode}) for e in batch[start : start + TRANSACTION_LIMIT]]
                for start in range(0, len(batch), TRANSACTION_LIMIT)
            ]
        submit = partial(table.submit_transaction, retry_on_methods=UPSERT_RETRY_METHODS)
        if len(transactions) <= 1:  # most writes: no threads for one transaction
            for operations in transactions:
                submit(operations)
            return
        # A pool per call, not a shared one: callers are activities on worker threads, and a shared
        # pool full of callers waiting on their own transactions queued behind them would deadlock.
        with ThreadPoolExecutor(min(TRANSACTIONS_IN_FLIGHT, len(transactions))) as pool:
            sent = [pool.submit(submit, operations) for operations in transactions]
            wait(sent, return_when=FIRST_EXCEPTION)
            pool.shutdown(cancel_futures=True)  # after a failure none starts, as when sent one at a time
        for future in sent:  # every one started has finished: the first failure is the caller's
            if not future.cancelled():
                future.result()


def _run_rows_query(run_id: str, subscription_id: str, enable_chunk: int | None) -> str:
    query = f"PartitionKey eq {_odata_literal(machine_partition(run_id, subscription_id))}"
    return query if enable_chunk is None else f"{query} and enable_chunk eq {int(enable_chunk)}"


def _entity(record: Any, partition_key: str, row_key: str) -> dict[str, Any]:
    return to_entity(record, partition_key, row_key, clip_text=MAX_TEXT)
