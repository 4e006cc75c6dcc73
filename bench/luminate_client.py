"""getUser throughput of the Luminate client against the simulator, run in a separate process.

    .venv/bin/python bench/luminate_client.py [--requests-at-zero 1500] [--seconds-at-latency 2]
    .venv/bin/python bench/luminate_client.py --cpu-only [--cpu-runs 5] [--cpu-requests 2000]

For latencies 0 and 50 ms and concurrency 1, 8 and 32 (no rate cap) it prints requests per second,
the ideal (concurrency / latency) and the client's CPU time per request. Then, at 0 ms and concurrency
1 and 8, the lowest CPU time per request over ``--cpu-runs`` runs of ``--cpu-requests`` calls (CPU
steal makes single runs vary by half) and the Python function calls per request counted by cProfile,
which steal does not change. ``--cpu-only`` skips the throughput runs. The last line is one JSON
object with the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time

from simulator_process import set_latency, simulator_process

from lumisync.luminate import AsyncLuminateClient, Credentials, SiteConfig
from lumisync.simulator.state import FIRST_CONS_ID

CONSTITUENTS = 5000
LATENCIES_MS = (0, 50)
CONCURRENCIES = (1, 8, 32)
CPU_CONCURRENCIES = (1, 8)


async def measure(
    site: SiteConfig, ids: list[str], concurrency: int, profiler: cProfile.Profile | None = None
) -> tuple[float, float, int]:
    async with AsyncLuminateClient(site) as client:
        # One warm-up call opens a connection, so the run measures steady state.
        await client.get_user(cons_id=ids[0])
        if profiler:
            profiler.enable()
        started, cpu_started = time.perf_counter(), time.process_time()
        failures = 0
        async for result in client.get_users(ids, concurrency=concurrency):
            failures += not result.ok
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if profiler:
            profiler.disable()
        return wall, cpu, failures


def site_for(settings: dict, concurrency: int) -> SiteConfig:
    return SiteConfig(
        host=settings["api_host"],
        org=settings["organization"],
        credentials=Credentials(settings["api_key"], settings["api_login"], settings["api_password"]),
        allow_http=True,
        allow_private=True,
        concurrency=concurrency,
        rate=None,
    )


def cpu_rows(settings: dict, ids: list[str], runs: int, count: int) -> list[dict]:
    """At 0 ms: the lowest CPU per request over ``runs`` runs, and the function calls per request."""
    set_latency(settings, 0)
    rows = []
    for concurrency in CPU_CONCURRENCIES:
        site = site_for(settings, concurrency)
        cpus, failures = [], 0
        for _ in range(runs):
            _, cpu, failed = asyncio.run(measure(site, ids[:count], concurrency))
            cpus.append(cpu)
            failures += failed
        profiler = cProfile.Profile()
        _, _, failed = asyncio.run(measure(site, ids[:count], concurrency, profiler))
        failures += failed
        calls = pstats.Stats(profiler).total_calls
        row = {
            "latency_ms": 0,
            "concurrency": concurrency,
            "requests": count,
            "runs": runs,
            "failures": failures,
            "min_cpu_ms_per_request": round(min(cpus) * 1000 / count, 3),
            "median_cpu_ms_per_request": round(sorted(cpus)[len(cpus) // 2] * 1000 / count, 3),
            "calls_per_request": round(calls / count, 1),
        }
        rows.append(row)
        print(
            f"latency   0 ms  concurrency {concurrency:>2}: client CPU min {row['min_cpu_ms_per_request']}"
            f"  median {row['median_cpu_ms_per_request']} ms/request over {runs} runs,"
            f"  {row['calls_per_request']} calls/request  [{count} requests, {failures} failed]",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-at-zero", type=int, default=1500, help="getUser calls per run at 0 ms")
    parser.add_argument("--seconds-at-latency", type=float, default=2.0, help="target length of a 50 ms run")
    parser.add_argument("--cpu-runs", type=int, default=5, help="runs per concurrency for the CPU minimum")
    parser.add_argument("--cpu-requests", type=int, default=2000, help="getUser calls per CPU run")
    parser.add_argument("--cpu-only", action="store_true", help="skip the throughput runs")
    args = parser.parse_args()
    rows = []
    with simulator_process(CONSTITUENTS) as settings:
        ids = [str(FIRST_CONS_ID + i) for i in range(CONSTITUENTS)]
        for latency in () if args.cpu_only else LATENCIES_MS:
            set_latency(settings, latency)
            for concurrency in CONCURRENCIES:
                site = site_for(settings, concurrency)
                if latency:
                    count = max(40, int(args.seconds_at_latency * concurrency * 1000 / latency))
                else:
                    count = args.requests_at_zero
                count = min(count, CONSTITUENTS)
                wall, cpu, failures = asyncio.run(measure(site, ids[:count], concurrency))
                ideal = concurrency * 1000 / latency if latency else None
                row = {
                    "latency_ms": latency,
                    "concurrency": concurrency,
                    "requests": count,
                    "failures": failures,
                    "requests_per_s": round(count / wall, 1),
                    "ideal_requests_per_s": ideal,
                    "share_of_ideal": round(count / wall / ideal, 3) if ideal else None,
                    "client_cpu_ms_per_request": round(cpu * 1000 / count, 3),
                }
                rows.append(row)
                print(
                    f"latency {latency:>3} ms  concurrency {concurrency:>2}: {row['requests_per_s']:>8} req/s"
                    f"  (ideal {ideal if ideal else 'unbounded'})"
                    f"  client CPU {row['client_cpu_ms_per_request']} ms/request"
                    f"  [{count} requests, {failures} failed]",
                    flush=True,
                )
        cpu = cpu_rows(settings, ids, args.cpu_runs, min(args.cpu_requests, CONSTITUENTS))
    print(json.dumps({"benchmark": "luminate_client_get_user", "runs": rows, "cpu": cpu}))


if __name__ == "__main__":
    main()
