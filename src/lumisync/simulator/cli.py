"""`python -m lumisync.simulator`: run a simulated Luminate Online site until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import signal
import time
from datetime import datetime

from .config import SimulatorConfig
from .harness import Simulator

_IDLE_SECONDS = 3600.0


class _StopServing(Exception):
    """SIGINT or SIGTERM arrived: leave the serving loop and stop the servers."""


def _stop_serving(*_signal: object) -> None:
    # Raising is all a handler may safely do here: it runs in the main thread between two bytecodes, and
    # setting a threading.Event from it deadlocked when the signal landed while that same thread held the
    # event's lock inside Event.wait().
    raise _StopServing


def _loopback(value: str) -> str:
    if not ipaddress.ip_address(value).is_loopback:
        raise argparse.ArgumentTypeError(
            f"--host {value!r}: the simulator only listens on loopback addresses"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lumisync simulator", description="Run a simulated Luminate Online site."
    )
    p.add_argument("command", nargs="?", default="serve", choices=["serve"])
    p.add_argument("--host", type=_loopback, default="127.0.0.1")
    p.add_argument("--port", type=int, default=8780, help="HTTP API port (0 picks a free one)")
    p.add_argument("--ftp-port", type=int, default=2121, help="plain FTP port (0 picks a free one)")
    p.add_argument("--ftps-port", type=int, default=2990, help="explicit FTPS port (0 picks a free one)")
    p.add_argument("--no-ftp", action="store_true", help="do not start plain FTP")
    p.add_argument("--no-ftps", action="store_true", help="do not start FTPS")
    p.add_argument("--ftp-root", help="folder the FTP servers serve (default: a temporary folder)")
    p.add_argument("--constituents", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--org", default="simorg")
    p.add_argument("--api-key", default="sim-api-key")
    p.add_argument("--login-name", default="apiuser")
    p.add_argument("--login-password", default="sim-password")
    p.add_argument("--ftp-user", default="datasync")
    p.add_argument("--ftp-password", default="sim-ftp-password")
    p.add_argument("--opt-in-field", default="custom_boolean50")
    p.add_argument("--mobile-share", type=float, default=0.6)
    p.add_argument("--allowed-cidr", action="append", help="API IP allow-list entry (repeatable)")
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--jitter-ms", type=int, default=0)
    p.add_argument("--plain", action="store_true", help="turn every JSON/XML quirk off")
    p.add_argument("--clock-start", help="ISO 8601 start of the simulated clock (default: now)")
    p.add_argument("--control-token", help="token for the /_sim/ control endpoint (default: random)")
    p.add_argument(
        "--write-file",
        choices=["liberal", "conservative", "full"],
        help="write the changed-records file once at start (and on --write-every)",
    )
    p.add_argument(
        "--write-every",
        type=float,
        metavar="SECONDS",
        help="rewrite the changed-records file every SECONDS of real time, as a recurring export would",
    )
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    cfg = SimulatorConfig(
        seed=args.seed,
        constituents=args.constituents,
        org=args.org,
        api_key=args.api_key,
        login_name=args.login_name,
        login_password=args.login_password,
        opt_in_field=args.opt_in_field,
        allowed_cidrs=tuple(args.allowed_cidr or ("127.0.0.0/8",)),
        host=args.host,
        port=args.port,
        ftp=not args.no_ftp,
        ftps=not args.no_ftps,
        ftp_port=args.ftp_port,
        ftps_port=args.ftps_port,
        ftp_user=args.ftp_user,
        ftp_password=args.ftp_password,
        ftp_root=args.ftp_root,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        mobile_share=args.mobile_share,
        clock_start=datetime.fromisoformat(args.clock_start) if args.clock_start else None,
        control_token=args.control_token,
    )
    if args.plain:
        cfg.quirks.set_all(False)
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.write_every is not None and args.write_every <= 0:
        parser.error(f"--write-every {args.write_every!r}: give a number of seconds above 0")
    try:
        config = config_from_args(args)
    except ValueError as err:
        parser.error(str(err))
    sim = Simulator(config)
    try:
        sim.start()
    except OSError as err:
        print(f"simulator: cannot start: {err}")
        return 1
    try:
        settings = {
            "api_url": sim.url(),
            "api_host": sim.host,
            "organization": sim.org,
            "api_key": sim.api_key,
            "api_login": sim.login_name,
            "api_password": sim.login_password,
            "ftp_url": sim.ftp_url,
            "ftps_url": sim.ftps_url,
            "ftp_user": sim.ftp_user,
            "ftp_password": sim.ftp_password,
            "ftps_cafile": sim.ftps_cafile,
            "ftp_root": sim.ftp_root,
            "opt_in_field": config.opt_in_field,
            "control_url": f"{sim.base_url}/_sim/",
            "control_token": sim.control_token,
            "constituents": config.constituents,
        }
        if args.write_file:
            settings["written_file"] = sim.write_changed_file(mode=args.write_file)
        print("Luminate Online simulator running (test credentials only). Connection settings:")
        for key, value in settings.items():
            print(f"  {key:14} {value}")
        print(json.dumps(settings), flush=True)
        mode = args.write_file or "liberal"
        with contextlib.suppress(_StopServing):
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, _stop_serving)
            while True:
                time.sleep(args.write_every or _IDLE_SECONDS)
                if args.write_every:
                    print(f"wrote {sim.write_changed_file(mode=mode)}", flush=True)
    finally:
        sim.stop()
    return 0
