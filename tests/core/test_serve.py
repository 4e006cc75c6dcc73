"""`lumisync serve` starts the web app in its own process: the first README command ends in it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from cryptography.fernet import Fernet

from lumisync.core.management.commands.serve import Command as Serve

STARTUP_SECONDS = 12


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_defaults_are_the_address_the_readme_gives():
    options = Serve().create_parser("lumisync", "serve").parse_args([])
    assert (options.host, options.port) == ("127.0.0.1", 8000)


def test_serve_answers_the_sign_in_page(tmp_path):
    port = free_port()
    # Its own SQLite file under a fresh home, whatever database this test run uses.
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(LUMISYNC_HOME=str(tmp_path), LUMISYNC_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    server = subprocess.Popen(
        [sys.executable, "-m", "lumisync", "serve", "--port", str(port), "--no-background"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        response = None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and server.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/login/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert response is not None, f"nothing answered on port {port} within {STARTUP_SECONDS} s:\n{output}"
    assert response.status_code == 200
    assert 'name="password"' in response.text
    assert f"lumisync is serving on http://127.0.0.1:{port}/" in output
