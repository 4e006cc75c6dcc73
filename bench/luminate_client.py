"""getUser throughput of the Luminate client against the simulator, run in a separate process.

    .venv/bin/python bench/luminate_client.py [--requests-at-zero 1500] [--seconds-at-latency 2]

For latencies 0 and 50 ms and concurrency 1, 8 and 32 (no rate cap) it prints requests per second,
the ideal (concurrency / latency) and the client's CPU time per request. The last line is one JSON
object with the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from simulator_process import set_latency, simulator_process

from lumisync.luminate import AsyncLuminateClient, Credentials, SiteConfig

CONSTITUENTS = 5000
# The simulator numbers its seeded constituents from here; failures in the output would show a change.
FIRST_SEEDED_ID = 1_000_101
LATENCIES_MS = (0, 50)
CONCURRENCIES = (1, 8, 32)


async def measure(site: SiteConfig, ids: list[str], concurrency: int) -> tuple[float, float, int]:
    async with AsyncLuminateClient(site) as client:
        # One warm-up call opens a connection, so the run measures steady state.
        await client.get_user(cons_id=ids[0])
        started, cpu_started = time.perf_counter(), time.process_time()
        failures = 0
        async for result in client.get_users(ids, concurrency=concurrency):
            failures += not result.ok
        return time.perf_counter() - started, time.process_time() - cpu_started, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-at-zero", type=int, default=1500, help="getUser calls per run at 0 ms")
    parser.add_argument("--seconds-at-latency", type=float, default=2.0, help="target length of a 50 ms run")
    args = parser.parse_args()
    rows = []
    with simulator_process(CONSTITUENTS) as settings:
        host, org = settings["api_host"], settings["organization"]
        ids = [str(FIRST_SEEDED_ID + i) for i in range(CONSTITUENTS)]
        for latency in LATENCIES_MS:
            set_latency(settings, latency)
            for concurrency in CONCURRENCIES:
                site = SiteConfig(
                    host=host,
                    org=org,
                    credentials=Credentials(
                        settings["api_key"], settings["api_login"], settings["api_password"]
                    ),
                    allow_http=True,
                    allow_private=True,
                    concurrency=concurrency,
                    rate=None,
                )
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
    print(json.dumps({"benchmark": "luminate_client_get_user", "runs": rows}))


if __name__ == "__main__":
    main()
