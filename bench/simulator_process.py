"""The Luminate simulator in a process of its own, for the benches: so that its CPU is not the engine's."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import httpx

CONTROL_TOKEN = "bench-control-token"


@contextlib.contextmanager
def simulator_process(constituents: int, *extra: str):
    """Start ``python -m lumisync.simulator`` (API only) and yield the settings it prints as JSON."""
    command = [
        sys.executable,
        "-m",
        "lumisync.simulator",
        "serve",
        "--port",
        "0",
        "--no-ftp",
        "--no-ftps",
        "--constituents",
        str(constituents),
        "--control-token",
        CONTROL_TOKEN,
        *extra,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        settings = None
        for line in process.stdout:
            if line.startswith("{"):
                settings = json.loads(line)
                break
        if settings is None:
            raise SystemExit("the simulator exited before printing its settings")
        yield settings
    finally:
        process.terminate()
        process.wait(timeout=10)


def set_latency(settings: dict, ms: int) -> None:
    response = httpx.post(
        settings["control_url"] + "settings",
        json={"latency_ms": ms, "jitter_ms": 0},
        headers={"X-Sim-Token": CONTROL_TOKEN},
    )
    response.raise_for_status()
