"""Resource Graph: the request's KQL really runs, in DuckDB via duckdb-kql.

Rows live in ``_sim_resources`` / ``_sim_resourcecontainers``; the views
``resources`` and ``resourcecontainers`` show only the subscriptions in the current
request's scope (``_sim_scope``), so a query cannot see what the caller could not.
DuckDB connections are not thread-safe: callers hold the simulator lock.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import math
import re
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import duckdb
import duckdb_kql
import duckdb_kql.engine

from local_stack.simulator.fleet import Fleet, Machine
from local_stack.simulator.wire import ArmError, Request, Response

if TYPE_CHECKING:
    from local_stack.simulator.server import FleetSimulator

API_VERSIONS = ("2021-03-01", "2022-10-01", "2024-04-01")
MAX_TOP = 1000
DEFAULT_TOP = 100
MAX_SUBSCRIPTIONS = 1000
MACHINE_TYPE = "microsoft.hybridcompute/machines"
EXTENSION_TYPE = "microsoft.hybridcompute/machines/extensions"

# Column order of a real `resources | take 1`.
COLUMNS = (
    ("id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("type", "VARCHAR"),
    ("tenantId", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("location", "VARCHAR"),
    ("resourceGroup", "VARCHAR"),
    ("subscriptionId", "VARCHAR"),
    ("managedBy", "VARCHAR"),
    ("sku", "JSON"),
    ("plan", "JSON"),
    ("properties", "JSON"),
    ("tags", "JSON"),
    ("identity", "JSON"),
    ("zones", "JSON"),
    ("extendedLocation", "JSON"),
)
_PUBLIC = ", ".join(f'"{name}"' for name, _ in COLUMNS)
_TRUNCATING = re.compile(r"\|\s*(take|limit|sample)\b", re.IGNORECASE)
CACHED_ROWS = 200_000
"""Rows of recent results kept for the next page of the same query: at 100,000 machines, running the
query again for each of its pages cost more CPU than everything else the simulator does."""

Result = tuple[list[str], list[str], list[tuple]]


class ResourceGraphIndex:
    """The DuckDB copy of the fleet, kept in step with machine revisions.

    `generation` moves whenever the copy changes; a query's result is kept until it does, so that
    paging through a result does not run the query again for every page.
    """

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.con = duckdb_kql.connect()
        table_cols = ", ".join(f'"{n}" {t}' for n, t in COLUMNS)
        for table in ("_sim_resources", "_sim_resourcecontainers"):
            self.con.execute(f"CREATE TABLE {table} (_key VARCHAR, {table_cols})")
        self.con.execute('CREATE TABLE _sim_scope ("subscriptionId" VARCHAR)')
        for view, table in (("resources", "_sim_resources"), ("resourcecontainers", "_sim_resourcecontainers")):
            self.con.execute(
                f"CREATE VIEW {view} AS SELECT {_PUBLIC} FROM {table} "
                f'WHERE "subscriptionId" IN (SELECT "subscriptionId" FROM _sim_scope)'
            )
        self._schema = duckdb_kql.engine.schema(self.con)
        self._sql_cache: dict[str, str] = {}
        self._synced: dict[int, int] = {}
        self._subscriptions_synced: tuple[tuple[str, str, str, bool], ...] | None = None
        self.generation = 0
        self._results: OrderedDict[tuple[str, tuple[str, ...], int], Result] = OrderedDict()
        self.sync()

    def sync(self) -> None:
        """Re-index machines whose revision moved since the last sync, and the containers if anything did."""
        stale = [m for m in self.fleet.machines if self._synced.get(id(m)) != m.revision]
        subscriptions = tuple(
            (s.subscription_id, s.display_name, s.state, s.readable) for s in self.fleet.subscriptions
        )
        if not stale and subscriptions == self._subscriptions_synced:
            return
        if stale:
            self._delete("_sim_resources", [m.id.lower() for m in stale])
            self._insert("_sim_resources", [row for m in stale if not m.deleted for row in machine_rows(m, self.fleet)])
            for m in stale:
                self._synced[id(m)] = m.revision
        self.con.execute("DELETE FROM _sim_resourcecontainers")
        self._insert("_sim_resourcecontainers", container_rows(self.fleet))
        self._subscriptions_synced = subscriptions
        self.generation += 1
        self._results.clear()

    def _delete(self, table: str, keys: list[str]) -> None:
        self.con.execute(f"DELETE FROM {table} WHERE _key IN (SELECT unnest($1::VARCHAR[]))", [keys])

    def _insert(self, table: str, rows: list[tuple]) -> None:
        """Bulk insert through unnest; executemany is ~60x slower in DuckDB."""
        if not rows:
            return
        types = ["VARCHAR"] + [t for _, t in COLUMNS]
        columns = [list(col) for col in zip(*rows, strict=True)]
        select = ", ".join(f"unnest(${i + 1}::{t}[])" for i, t in enumerate(types))
        self.con.execute(f"INSERT INTO {table} SELECT {select}", columns)

    def _translate(self, query: str, now: dt.datetime) -> tuple[str, dict[str, Any]]:
        """KQL -> SQL, as duckdb_kql.kql does, but cached: parsing costs ~0.1 s a query.

        Only translations with no bound values are cached; a query using now()/ago()
        binds the simulated time and is translated afresh.
        """
        sql = self._sql_cache.get(query)
        if sql is not None:
            return sql, {}
        translated = duckdb_kql.to_sql(query, schema=self._schema, allow_write=False, query_now=now)
        if translated.unbound:
            raise duckdb_kql.KqlSchemaError(", ".join(translated.unbound), hint="undeclared query parameter")
        params = dict(translated.parameters)
        if not params:
            if len(self._sql_cache) >= 256:
                self._sql_cache.clear()
            self._sql_cache[query] = str(translated)
        return str(translated), params

    def run(self, query: str, subscription_ids: Iterable[str], now: dt.datetime) -> Result:
        """Execute KQL over the given scope: (column names, DuckDB types, rows).

        The result of a query that binds no time (now(), ago()) is kept while the index does not change.
        """
        scope = tuple(sorted(set(subscription_ids)))
        key = (query, scope, self.generation)
        if key in self._results:
            self._results.move_to_end(key)
            return self._results[key]
        self.con.execute("DELETE FROM _sim_scope")
        self.con.execute("INSERT INTO _sim_scope SELECT unnest($1::VARCHAR[])", [list(scope)])
        try:
            sql, params = self._translate(query, now)
            relation = self.con.sql(sql, params=params) if params else self.con.sql(sql)
            if relation is None:
                raise ArmError(400, "BadRequest", "The query produced no tabular result.", details=[_invalid_query()])
            result = list(relation.columns), [str(t) for t in relation.types], relation.fetchall()
            if not params:
                self._keep(key, result)
            return result
        except duckdb_kql.KqlSyntaxError as exc:
            details = [_invalid_query()]
            for diag in getattr(exc, "diagnostics", [])[:5]:
                span = getattr(diag, "span", None)
                details.append(
                    {
                        "code": "ParserFailure",
                        "message": str(getattr(diag, "message", diag)),
                        "line": getattr(span, "line", None),
                        "characterPositionInLine": getattr(span, "column", None),
                    }
                )
            if len(details) == 1:
                details.append({"code": "ParserFailure", "message": str(exc)})
            raise ArmError(400, "BadRequest", f"Query is invalid: {exc}", details=details) from None
        except duckdb_kql.KqlUnsupportedError as exc:
            raise ArmError(
                400,
                "BadRequest",
                f"Query is invalid or not supported by the simulator's KQL engine (duckdb-kql): {exc}",
                details=[_invalid_query(), {"code": "UnsupportedConstruct", "message": str(exc)}],
            ) from None
        except (duckdb_kql.KqlError, duckdb.Error) as exc:
            raise ArmError(
                400,
                "BadRequest",
                f"Query is invalid: {exc}",
                details=[_invalid_query(), {"code": "InvalidQuery", "message": str(exc)}],
            ) from None

    def _keep(self, key: tuple[str, tuple[str, ...], int], result: Result) -> None:
        self._results[key] = result
        while len(self._results) > 1 and sum(len(rows) for _, _, rows in self._results.values()) > CACHED_ROWS:
            self._results.popitem(last=False)


def _invalid_query() -> dict[str, str]:
    return {
        "code": "InvalidQuery",
        "message": "Query is invalid. Please refer to the documentation for the "
        "Azure Resource Graph service and fix the error before retrying.",
    }


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def machine_rows(machine: Machine, fleet: Fleet) -> list[tuple]:
    """The machine and its extensions as ARG rows (type lowercase, resourceGroup lowercase)."""
    key = machine.id.lower()
    identity = {"type": "SystemAssigned", "principalId": machine.principal_id, "tenantId": fleet.tenant_id}
    common = (
        fleet.tenant_id,
        "",
        machine.location,
        machine.resource_group.lower(),
        machine.subscription_id,
        "",
        None,
        None,
    )
    rows = [
        (key, machine.arg_id or machine.id, machine.name, MACHINE_TYPE)
        + common
        + (_json(machine.properties), _json(machine.tags), _json(identity), None, None)
    ]
    for ext in machine.extensions:
        rows.append(
            (key, machine.extension_id(ext), ext.name, EXTENSION_TYPE)
            + common
            + (_json(ext.properties), _json(ext.tags), None, None, None)
        )
    return rows


def container_rows(fleet: Fleet) -> list[tuple]:
    """Subscriptions and resource groups, for ``resourcecontainers``."""
    groups: dict[tuple[str, str], tuple[str, str]] = {}
    for m in fleet.machines:
        groups.setdefault((m.subscription_id, m.resource_group.lower()), (m.resource_group, m.location))
    rows = []
    for sub in fleet.subscriptions:
        props = {
            "state": sub.state,
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "EnterpriseAgreement_2014-09-01",
                "spendingLimit": "Off",
            },
        }
        rows.append(
            (
                sub.id,
                sub.id,
                sub.display_name,
                "microsoft.resources/subscriptions",
                fleet.tenant_id,
                "",
                "",
                "",
                sub.subscription_id,
                "",
                None,
                None,
                _json(props),
                _json({}),
                None,
                None,
                None,
            )
        )
    for (sub_id, rg_lower), (rg, location) in sorted(groups.items()):
        rg_id = f"/subscriptions/{sub_id}/resourceGroups/{rg}"
        rows.append(
            (
                rg_id,
                rg_id,
                rg,
                "microsoft.resources/subscriptions/resourcegroups",
                fleet.tenant_id,
                "",
                location,
                rg_lower,
                sub_id,
                "",
                None,
                None,
                _json({"provisioningState": "Succeeded"}),
                _json({}),
                None,
                None,
                None,
            )
        )
    return rows


# --- values -----------------------------------------------------------------------------------------


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}0"
    return text + "Z"


def _timespan(value: dt.timedelta) -> str:
    """Kusto timespan text: ``[-][d.]hh:mm:ss[.fffffff]``."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if value.days:
        text = f"{value.days}.{text}"
    if value.microseconds:
        text += f".{value.microseconds:06d}0"
    return sign + text


def to_json_value(value: Any, duck_type: str) -> Any:
    """DuckDB value -> what ARG puts in the JSON response (dynamic columns as objects)."""
    if value is None:
        return None
    if duck_type == "JSON":
        return json.loads(value) if isinstance(value, str) else value
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return _timestamp(value)
    if isinstance(value, dt.date):
        return _timestamp(dt.datetime.combine(value, dt.time()))
    if isinstance(value, dt.timedelta):
        return _timespan(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return str(value)


def column_type(duck_type: str) -> str:
    """ARG's ColumnDataType for a DuckDB type."""
    t = duck_type.upper()
    if t == "BOOLEAN":
        return "boolean"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"):
        return "integer"
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return "number"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return "datetime"
    if t in ("VARCHAR", "UUID", "INTERVAL") or t.startswith("VARCHAR"):
        return "string"
    return "object"


# --- skip tokens ------------------------------------------------------------------------------------


def _query_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:16]


def make_skip_token(offset: int, query: str) -> str:
    raw = json.dumps({"$skip": offset, "$queryHash": _query_hash(query)}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def read_skip_token(token: str, query: str) -> int:
    try:
        data = json.loads(base64.b64decode(token.encode(), validate=True))
        offset = int(data["$skip"])
        matches = data["$queryHash"] == _query_hash(query)
    except (ValueError, KeyError, TypeError):
        raise ArmError(
            400,
            "BadRequest",
            "The $skipToken is invalid.",
            details=[{"code": "InvalidSkipToken", "message": "The $skipToken is invalid."}],
        ) from None
    if not matches or offset < 0:
        raise ArmError(
            400,
            "BadRequest",
            "The $skipToken was issued for a different query.",
            details=[{"code": "InvalidSkipToken", "message": "The $skipToken was issued for a different query."}],
        )
    return offset


# --- the endpoint -----------------------------------------------------------------------------------


def _bad(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def _int_option(options: dict[str, Any], name: str) -> int | None:
    value = options.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"The value of '{name}' must be an integer.")
    return value


def handle_query(sim: FleetSimulator, request: Request, params: dict[str, str]) -> Response:
    """POST /providers/Microsoft.ResourceGraph/resources."""
    body = request.json_body()
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise _bad("The 'query' property is required.")
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise _bad("The 'options' property must be an object.")
    top = _int_option(options, "$top")
    if top is not None and not 1 <= top <= MAX_TOP:
        raise _bad(f"The value of '$top' must be between 1 and {MAX_TOP}; it was {top}.")
    skip = _int_option(options, "$skip") or 0
    if skip < 0:
        raise _bad("The value of '$skip' must not be negative.")
    result_format = options.get("resultFormat", "objectArray")
    if result_format not in ("objectArray", "table"):
        raise _bad("The value of 'resultFormat' must be 'objectArray' or 'table'.")
    token = options.get("$skipToken")
    if token:
        skip = read_skip_token(str(token), query)

    requested = body.get("subscriptions")
    if requested is not None:
        if not isinstance(requested, list) or not all(isinstance(s, str) for s in requested):
            raise _bad("The 'subscriptions' property must be an array of subscription ids.")
        if len(requested) > MAX_SUBSCRIPTIONS:
            raise _bad(f"The number of subscriptions ({len(requested)}) exceeds the limit of {MAX_SUBSCRIPTIONS}.")
    # Readable includes Disabled, Expired, Warned and PastDue subscriptions (their resources can be read);
    # Deleted ones have no resources left to show.
    readable = {s.subscription_id for s in sim.fleet.subscriptions if s.visible}
    # No subscriptions (or only management groups): everything the caller can read.
    scope = readable if not requested else readable & {s.lower() for s in requested}

    sim.settle_all()
    sim.index.sync()
    columns, types, rows = sim.index.run(query, scope, sim.clock.now())

    top = top if top is not None else DEFAULT_TOP
    page = rows[skip : skip + top]
    more = skip + len(page) < len(rows)
    pageable = "id" in columns and not _TRUNCATING.search(query)
    if more and pageable and sim.fault_strikes("arg_truncated"):
        pageable = False  # a fault: "truncated", no $skipToken, the rest of the rows lost
    if result_format == "table":
        data: Any = {
            "columns": [{"name": c, "type": column_type(t)} for c, t in zip(columns, types, strict=True)],
            "rows": [[to_json_value(v, t) for v, t in zip(row, types, strict=True)] for row in page],
        }
    else:
        data = [{c: to_json_value(v, t) for c, v, t in zip(columns, row, types, strict=True)} for row in page]
    result: dict[str, Any] = {
        "totalRecords": len(rows),
        "count": len(page),
        "resultTruncated": "true" if more and not pageable else "false",
    }
    if more and pageable:
        result["$skipToken"] = make_skip_token(skip + len(page), query)
    result["data"] = data
    result["facets"] = []
    return Response(200, result)
