"""The benchmark's tables: one per estate, ratios to the throttle floor and between the sweeps."""

from __future__ import annotations

from collections import Counter

from local_stack.bench.estates import Estate
from local_stack.bench.scale import Measured


def print_estate(estate: Estate, results: list[Measured], wall_s: float) -> None:
    floor = results[0].floor
    limits = estate.throttling
    print()
    print(f"== {estate.name} (measured in {wall_s:.0f}s)")
    print(
        f"Simulator: writes {limits.write_burst} at once + {limits.write_refill_per_second:g}/s per subscription, "
        f"Resource Graph {limits.arg_quota} queries per {limits.arg_window_seconds:g}s, service time "
        f"{estate.latency.read_s:g}s per read, {estate.latency.write_s:g}s per write."
    )
    print(
        f"Throttle floor: discovery {floor.discovery_s:.1f}s ({floor.pages} pages in {floor.batches} batches), "
        f"enabling {floor.enabling_s:.1f}s ({floor.writes} PATCHes, {floor.largest_subscription} in the busiest "
        f"subscription), sweep {floor.sweep_s:.1f}s."
    )
    print(
        f"{'sweep':<12} {'enabling s':>10} {'x floor':>8} {'sweep s':>8} {'x floor':>8} {'PATCHes':>8} "
        f"{'429s':>6} {'early':>6} {'ARG req':>8} {'rows':>7} {'CPU s':>7} {'RSS MB':>7} {'history':>8} "
        f"{'sim CPU':>8} {'Azurite CPU/RSS':>16}"
    )
    for m in results:
        a, run = m.azure, m.run
        projected = "" if m.complete else "*"
        storage = f"{m.storage.cpu_s:.0f}s/{m.storage.peak_rss_mb:.0f}MB" if m.storage else "-"
        print(
            f"{run.kind:<12} {m.enabling_s:>9.1f}{projected} {m.enabling_s / floor.enabling_s:>7.2f}x "
            f"{m.sweep_s:>7.1f}{projected} {m.sweep_s / floor.sweep_s:>7.2f}x {a.patches:>8} "
            f"{a.patches_throttled:>6} {a.early:>6} {a.arg_requests:>8} {run.table_rows:>7} "
            f"{run.cost.cpu_s:>7.1f} {run.cost.peak_rss_mb:>7.0f} {run.largest_history:>8} "
            f"{a.cost.cpu_s:>7.1f}s {storage:>16}"
        )
    product = results[0]
    for m in results[1:]:
        print(
            f"{m.run.kind} / product: enabling {m.enabling_s / product.enabling_s:.2f}x, "
            f"whole sweep {m.sweep_s / product.sweep_s:.2f}x (above 1: the product is faster)"
        )
    for m in results:
        if not m.complete:
            print(
                f"* {m.run.kind}: stopped after {m.run.sent} of {m.run.planned} PATCHes "
                f"({m.enabling_s_measured:.0f}s); time projected at the measured rate"
            )
        elif m.azure.problems:
            print(
                f"! {m.run.kind}: {len(m.azure.problems)} machines not as the fate ledger says"
                f" ({m.azure.drifted} missed ones now disconnected or deleted: a fate is decided at the start),"
                f" e.g. {m.azure.problems[0]}"
            )
    if product.run.host_cost is not None:
        print(
            f"product's activities ran in {product.run.worker_processes} worker processes (RSS MB: the largest one's "
            f"peak; CPU: all of them and the host's); the host process, orchestrations only: "
            f"{product.run.host_cost.cpu_s:.1f}s CPU, peak RSS {product.run.host_cost.peak_rss_mb:.0f} MB"
        )
    print(
        "product by phase: "
        + "; ".join(
            f"{p.name} {p.seconds:.1f}s, peak RSS {p.peak_rss_mb:.0f} MB, {p.peak_threads} threads"
            for p in product.phases()
        )
    )
    last = product.azure.last_granted
    if last:
        began = product.run.discovered_at
        print(
            f"product's last subscription to finish: {len(last)} PATCHes granted, the first {last[0] - began:.1f}s "
            f"after enabling began, the last {last[-1] - began:.1f}s after; its bucket allows first to last in "
            f"{limits.arm_floor_seconds(len(last), 'write'):.1f}s, it took {last[-1] - last[0]:.1f}s"
        )
    print(
        f"429s: product {product.azure.patches_throttled / max(1, product.azure.patches):.1%} of PATCHes; "
        f"Resource Graph requests {product.azure.arg_requests} ({product.azure.arg_throttled} answered 429) "
        f"for {floor.pages} machine pages + "
        f"{floor.extension_pages} extension pages + {floor.batches} batches; "
        f"rows written {product.run.table_rows} in {product.run.table_requests} requests; "
        f"{product.run.orchestrations} orchestrations."
    )
    failed = Counter(product.run.failed_activities)
    print(
        f"product's activity attempts that failed (each retried, or given up with the reason on its rows): "
        f"{sum(failed.values())}" + "".join(f"; {n} x {why}" for why, n in failed.most_common(3))
    )
