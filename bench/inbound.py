"""Inbound sync throughput, CPU time and memory against the simulator, each run in a process of its own.

    .venv/bin/python bench/inbound.py [--api-records 3000] [--cpu-records 5000] \
        [--file-records 100000] [--big-file-records 1000000] [--only NAME ...] [--profile DIR] [--callgrind]

The simulator runs in a separate process (``python -m lumisync.simulator``); every scenario runs the engine
(``run_inbound`` over a changed-records file, exactly what ``lumisync sync inbound --file`` does) in a fresh
process on a fresh copy of a migrated SQLite database, Liberal sync, a default opt-in path with a welcome
message, so each record is read, mapped, decided, created, subscribed, welcomed and reported.

Scenarios:

* ``api-50ms``: getUser per constituent, simulator latency 50 ms, concurrency 16, no rate cap; the rate
  is compared with the ideal 16 / 0.05 s = 320 constituents/s.
* ``api-0ms``: the same at 0 ms latency: the engine process's CPU seconds per constituent (everything:
  file, getUser on the client side, mapping, policy, writes, report rows) and the end-to-end rate.
* ``file``: file mode (values taken from the file, no getUser): constituents/s end to end.
* ``file-1m``: file mode over a large file: the engine process's peak memory (ru_maxrss).

File mode reads its values (mobile numbers, emails) in a worker process of the engine's: its CPU time and
peak memory are printed beside the engine's as ``worker_cpu_seconds`` and ``worker_max_rss_mb``.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from simulator_process import set_latency, simulator_process

from lumisync.simulator.state import FIRST_CONS_ID

CONCURRENCY = 16
UNCAPPED_RATE = 1e9  # requests per second: far above anything the simulator can answer
WELCOME = "Welcome to River Alerts! Reply HELP for help, STOP to opt out."
FILE_HEADINGS = (
    ("constituent_id", "CONS_ID"),
    ("profile_email", "PRIMARY_EMAIL"),
    ("profile_first_name", "FIRST_NAME"),
    ("profile_last_name", "LAST_NAME"),
    ("phone_number", "MOBILE_PHONE"),
    ("opt_in_status", "SMS_OPT_IN"),
    ("address_street_1", "STREET1"),
    ("address_street_2", "STREET2"),
    ("address_city", "CITY"),
    ("address_state", "STATE"),
    ("address_postal_code", "ZIP"),
    ("address_country", "COUNTRY"),
)


# --- the orchestrating process ---------------------------------------------------------------------------


def environment(database: Path, key: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lumisync.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "LUMISYNC_ENCRYPTION_KEYS": key,
        "LUMISYNC_LOG_LEVEL": "WARNING",
        # As in production: with DEBUG on, Django keeps and formats every query.
        "LUMISYNC_DEBUG": "0",
        "LUMISYNC_SMS_BACKEND": "log",
    }


def migrated_template(folder: Path, key: str) -> Path:
    template = folder / "template.sqlite3"
    subprocess.run(
        [sys.executable, "-m", "lumisync.cli", "migrate", "--verbosity", "0"],
        env=environment(template, key),
        check=True,
    )
    return template


def api_file(path: Path, records: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["CONS_ID"])
        for index in range(records):
            writer.writerow([FIRST_CONS_ID + index])


def values_file(path: Path, records: int) -> None:
    """A file carrying every mapped value (file mode): distinct valid mobile numbers, most opted in."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([heading for _field, heading in FILE_HEADINGS])
        for index in range(records):
            area = ("202", "312", "415", "617", "713")[index % 5]
            writer.writerow(
                [
                    FIRST_CONS_ID + index,
                    f"person{index}@example.org",
                    "Jane",
                    f"Doe{index % 997}",
                    f"{area}{200 + index // 10000 % 800:03d}{index % 10000:04d}",
                    "true" if index % 10 else "false",
                    f"{index % 900 + 1} Main St",
                    "",
                    "Springfield",
                    "IL",
                    "62701",
                    "US",
                ]
            )


def run_scenario(
    name: str, folder: Path, template: Path, key: str, spec: dict, args: argparse.Namespace
) -> dict:
    if args.profile:
        spec = {**spec, "profile": str(Path(args.profile).resolve() / f"{name}.prof")}
    counted = folder / f"{name}.callgrind"
    # The engine's process under callgrind, which counts its instructions whatever else the machine does.
    prefix = ["valgrind", "--tool=callgrind", "--cache-sim=no", f"--callgrind-out-file={counted}"]
    database = folder / f"{name}.sqlite3"
    shutil.copyfile(template, database)
    spec_path = folder / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    result = subprocess.run(
        [*(prefix if args.callgrind else []), sys.executable, __file__, "--worker", str(spec_path)],
        env=environment(database, key),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"scenario {name} failed:\n{result.stderr[-4000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if args.callgrind:
        totals = [line for line in counted.read_text().splitlines() if line.startswith("totals:")]
        figures["instructions"] = int(totals[0].split()[1])
    return figures


def orchestrate(args: argparse.Namespace) -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    wanted = set(args.only or ["api-50ms", "api-0ms", "file", "file-1m"])
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="lumisync-bench-") as tmp:
        folder = Path(tmp)
        template = migrated_template(folder, key)
        api_records = max(args.api_records, args.cpu_records)
        if wanted & {"api-50ms", "api-0ms"}:
            with simulator_process(api_records + 10, "--mobile-share", "1.0") as settings:
                for name, records, latency_ms in (
                    ("api-50ms", args.api_records, 50),
                    ("api-0ms", args.cpu_records, 0),
                ):
                    if name not in wanted:
                        continue
                    api_file(folder / f"{name}.csv", records)
                    set_latency(settings, latency_ms)
                    results[name] = run_scenario(
                        name,
                        folder,
                        template,
                        key,
                        {"file": str(folder / f"{name}.csv"), "simulator": settings, "file_mode": False},
                        args,
                    )
                    if latency_ms:
                        ideal = CONCURRENCY * 1000 / latency_ms
                        results[name]["ideal_per_second"] = ideal
                        results[name]["share_of_ideal"] = round(results[name]["per_second"] / ideal, 3)
        for name, records in (("file", args.file_records), ("file-1m", args.big_file_records)):
            if name in wanted:
                values_file(folder / f"{name}.csv", records)
                results[name] = run_scenario(
                    name,
                    folder,
                    template,
                    key,
                    {"file": str(folder / f"{name}.csv"), "simulator": None, "file_mode": True},
                    args,
                )
    for name, figures in results.items():
        print(
            f"{name:9} {figures['records']:>9,} records  {figures['seconds']:8.2f} s  "
            f"{figures['per_second']:9,.0f}/s  CPU {figures['cpu_ms_per_record']:.3f} ms/record  "
            f"peak {figures['max_rss_mb']:.0f} MB  "
            f"(worker {figures['worker_cpu_seconds']:.1f} s CPU, {figures['worker_max_rss_mb']:.0f} MB)  "
            f"load {figures['load_average']}  {figures['counts']}"
            + (f"  {figures['share_of_ideal']:.0%} of ideal" if "share_of_ideal" in figures else "")
            + (f"  {figures['instructions']:,} instructions" if "instructions" in figures else "")
        )
    print(json.dumps(results))


# --- the engine process ----------------------------------------------------------------------------------


def worker(spec_path: str) -> None:
    import django

    django.setup()
    from django.conf import settings

    settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
    settings.LUMISYNC_ALLOW_INSECURE_HTTP = True

    from lumisync.accounts.models import Organization
    from lumisync.datasync import services
    from lumisync.datasync.engine.inbound import InboundOptions, run_inbound
    from lumisync.datasync.models import FieldMapping, Integration
    from lumisync.subscribers.models import Campaign, OptInPath

    spec = json.loads(Path(spec_path).read_text())
    organization = Organization.objects.create(name="Bench", slug="bench")
    campaign = Campaign.objects.create(organization=organization, name="River Alerts")
    path = OptInPath.objects.create(
        organization=organization, campaign=campaign, name="Luminate", welcome_message=WELCOME
    )
    integration = services.create_integration(organization, services.Actor("bench"))
    sim = spec["simulator"] or {}
    Integration.objects.filter(pk=integration.pk).update(
        login_name=sim.get("api_login", ""),
        api_host=sim.get("api_host", ""),
        organization_code=sim.get("organization", ""),
        allow_plain_http=True,
        default_opt_in_path=path,
        sync_type="liberal",
        api_concurrency=CONCURRENCY,
        api_requests_per_second=UNCAPPED_RATE,
        take_values_from_file=spec["file_mode"],
        active=True,
    )
    integration.refresh_from_db()
    integration.api_key = sim.get("api_key", "")
    integration.login_password = sim.get("api_password", "")
    integration.save(update_fields=["api_key", "login_password"])
    if spec["file_mode"]:
        for field, heading in FILE_HEADINGS:
            FieldMapping.objects.filter(integration=integration, field=field).update(csv_heading=heading)

    profiler = cProfile.Profile() if spec.get("profile") else None
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    children_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    watcher = ChildMemory()
    if profiler:
        profiler.enable()
    run = run_inbound(integration, InboundOptions(files=(Path(spec["file"]),)))
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = usage.ru_utime - cpu.ru_utime + usage.ru_stime - cpu.ru_stime
    watcher.stop()
    # The worker process that reads file-mode values, once it has ended.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu_seconds = children.ru_utime - children_cpu.ru_utime + children.ru_stime - children_cpu.ru_stime
    if run.status not in ("succeeded", "partial"):
        raise SystemExit(f"run {run.pk} ended {run.status}: {run.error}")
    print(
        json.dumps(
            {
                "records": run.done,
                "seconds": round(seconds, 3),
                "per_second": round(run.done / seconds, 1),
                "cpu_seconds": round(cpu_seconds, 3),
                "cpu_ms_per_record": round(1000 * cpu_seconds / run.done, 4),
                # Kernel time: thread switches between the reading and writing threads show up here.
                "system_cpu_seconds": round(usage.ru_stime - cpu.ru_stime, 3),
                "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "worker_cpu_seconds": round(worker_cpu_seconds, 3),
                "worker_max_rss_mb": round(watcher.peak_kb / 1024, 1),
                "load_average": round(os.getloadavg()[0], 2),
                "counts": run.counts,
            }
        )
    )


class ChildMemory:
    """The largest peak resident memory (VmHWM) of this process's children, sampled every 0.2 s.

    ``ru_maxrss`` of the children cannot tell: a child keeps the high-water mark of the process it was forked
    from, even after it executes a new program.
    """

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        import multiprocessing

        while not self._stopping.wait(0.2):
            for child in multiprocessing.active_children():
                try:
                    status = Path(f"/proc/{child.pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-records", type=int, default=3000)
    parser.add_argument("--cpu-records", type=int, default=5000)
    parser.add_argument("--file-records", type=int, default=100_000)
    parser.add_argument("--big-file-records", type=int, default=1_000_000)
    parser.add_argument("--only", action="append", choices=["api-50ms", "api-0ms", "file", "file-1m"])
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="write each scenario's cProfile statistics (main thread) to DIR/NAME.prof",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="run each scenario's engine process under valgrind's callgrind (about 50 times slower) and add "
        "its instruction count (startup included: compare two sizes for a per-record figure)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
