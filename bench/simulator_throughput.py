"""Throughput of the Luminate Online simulator.

Measures getUser requests per second at zero latency with keep-alive clients, and the number of requests
in flight at once when latency is injected. Client load runs in separate processes so the server keeps
its own interpreter. Prints figures; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import resource
import threading
import time
from urllib.parse import urlencode

from lumisync.simulator import SimulatorConfig, running_simulator


def _client(port: int, path: str, bodies: list[bytes], seconds: float, connections: int, out) -> None:
    done = [0] * connections
    errors = [0] * connections
    deadline = time.monotonic() + seconds

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        i = slot
        while time.monotonic() < deadline:
            conn.request("POST", path, bodies[i % len(bodies)], headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                done[slot] += 1
            else:
                errors[slot] += 1
            i += connections
        conn.close()

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((sum(done), sum(errors)))


def measure_throughput(sim, processes: int, connections: int, seconds: float) -> dict:
    ids = sim.state.seeded_ids(500)
    base = {
        "method": "getUser",
        "api_key": sim.api_key,
        "login_name": sim.login_name,
        "login_password": sim.login_password,
        "v": "1.0",
        "response_format": "json",
    }
    bodies = [urlencode({**base, "cons_id": c}).encode() for c in ids]
    path = f"/{sim.org}/site/SRConsAPI"
    queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_client, args=(sim.port, path, bodies, seconds, connections, queue))
        for _ in range(processes)
    ]
    start = time.monotonic()
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - start
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    ok = sum(r[0] for r in results)
    # Server CPU per request does not depend on what else the machine is running, unlike req/s.
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    cpu_us = cpu / max(ok, 1) * 1e6
    return {
        "requests": ok,
        "errors": sum(r[1] for r in results),
        "seconds": round(elapsed, 2),
        "per_second": round(ok / elapsed, 1),
        "server_cpu_us_per_request": round(cpu_us, 1),
        "one_core_capacity_per_second": round(1e6 / cpu_us, 1) if cpu_us else None,
    }


def measure_concurrency(sim, clients: int, latency_ms: int) -> dict:
    sim.faults.inject(None, "latency", ms=latency_ms)
    sim.in_flight_max = 0
    ids = sim.state.seeded_ids(clients)
    base = {
        "method": "getUser",
        "api_key": sim.api_key,
        "login_name": sim.login_name,
        "login_password": sim.login_password,
        "v": "1.0",
        "response_format": "json",
    }
    barrier = threading.Barrier(clients)
    statuses: list[int] = []

    def one(cons_id: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=60)
        conn.connect()
        barrier.wait()
        conn.request(
            "POST",
            f"/{sim.org}/site/SRConsAPI",
            urlencode({**base, "cons_id": cons_id}),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=one, args=(c,)) for c in ids]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    sim.faults.clear()
    # With latency L and N concurrent requests, serial handling would take N*L; overlap shows as ~L.
    in_flight = round(clients * latency_ms / 1000.0 / elapsed, 1)
    return {
        "clients": clients,
        "latency_ms": latency_ms,
        "seconds": round(elapsed, 2),
        "ok": statuses.count(200),
        "effective_in_flight": in_flight,
        "max_in_flight": sim.in_flight_max,
    }


def measure_generation(n: int) -> dict:
    start = time.monotonic()
    with running_simulator(SimulatorConfig(constituents=n)) as sim:
        started = time.monotonic() - start
        t0 = time.monotonic()
        members = len(sim.state.group_member_ids(1002))
        scan = time.monotonic() - t0
        t0 = time.monotonic()
        sim.write_changed_file(mode="liberal")
        file_seconds = time.monotonic() - t0
    return {
        "constituents": n,
        "start_seconds": round(started, 2),
        "group_scan_seconds": round(scan, 2),
        "group_members": members,
        "changed_file_seconds": round(file_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections per process")
    parser.add_argument("--constituents", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--latency-ms", type=int, default=500)
    parser.add_argument("--generation", type=int, default=1_000_000)
    args = parser.parse_args()
    with running_simulator(SimulatorConfig(constituents=args.constituents)) as sim:
        throughput = measure_throughput(sim, args.processes, args.connections, args.seconds)
        print(
            f"getUser at zero latency: {throughput['per_second']} req/s "
            f"({throughput['requests']} ok, {throughput['errors']} errors in {throughput['seconds']} s); "
            f"server CPU {throughput['server_cpu_us_per_request']} us/request, "
            f"{throughput['one_core_capacity_per_second']} req/s per core"
        )
        concurrency = measure_concurrency(sim, args.concurrency, args.latency_ms)
        print(
            f"{concurrency['clients']} requests at {args.latency_ms} ms latency: {concurrency['seconds']} s, "
            f"{concurrency['max_in_flight']} in flight at most, {concurrency['effective_in_flight']} on average"
        )
    generation = measure_generation(args.generation)
    print(
        f"{generation['constituents']} seeded constituents: start {generation['start_seconds']} s, "
        f"one group membership scan {generation['group_scan_seconds']} s, "
        f"nightly file {generation['changed_file_seconds']} s"
    )
    print(
        json.dumps(
            {
                "getuser_per_second": throughput["per_second"],
                "throughput": throughput,
                "concurrency": concurrency,
                "generation": generation,
            }
        )
    )


if __name__ == "__main__":
    main()
