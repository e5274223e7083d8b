"""The `affectd` command line: the daemon's commands (run, check, models, discovery,
scan).

The lab's commands (bench, eval, replay, demo) live in `edge/lab/cli.py`; they are
plugged in through the `affectd.commands` entry point group only when the
command line asks for one of them (or for help), so running the daemon imports
nothing of the lab. Entry points are the standard plugin mechanism of installed
Python packages, here also the way a third party adds a command.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge import __version__

if TYPE_CHECKING:
    from edge.settings import Settings

DEFAULT_CONFIG = Path("/etc/affectd/affectd.toml")
EX_DATAERR = 65
EX_UNAVAILABLE = 69


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _load(args: argparse.Namespace) -> Settings:
    from edge.config import load_settings

    overrides: dict[str, Any] = {}
    if getattr(args, "fast", False):
        overrides = {"physio": {"realtime": False}, "camera": {"realtime": False},
                     "microphone": {"realtime": False}}
    return load_settings(Path(args.config), overrides)


def cmd_run(args: argparse.Namespace) -> int:
    early_stop: list[int] = args.early_stop  # signals that came while starting (see main)
    settings = _load(args)
    _setup_logging(settings.runtime.log_level)
    from edge.daemon import Daemon

    daemon = Daemon(settings)
    daemon.install_signal_handlers()
    if early_stop:
        logging.getLogger("edge").info("signal %d during start-up: stopping", early_stop[0])
        return 0
    return daemon.run(duration_s=args.seconds)


def detected_devices() -> dict[str, list[str]]:
    """Cameras, audio inputs and Bluetooth adapters visible to this process."""
    out: dict[str, list[str]] = {
        "cameras": sorted(str(p) for p in Path("/dev").glob("video*")),
        "bluetooth": sorted(p.name for p in Path("/sys/class/bluetooth").glob("hci*")),
        "audio_inputs": [],
    }
    snd = Path("/proc/asound/pcm")
    if snd.exists():
        out["audio_inputs"] = [ln.strip() for ln in snd.read_text().splitlines() if "capture" in ln]
    return out


def cmd_check(args: argparse.Namespace) -> int:
    settings = _load(args)
    from edge.daemon import build_analyzer
    from edge.registry import Registry
    from edge.sources import build_sources, source_warnings

    analyzers = [build_analyzer(src, settings).name for src in build_sources(settings)]
    reg = Registry()
    errors = reg.verify_all()
    if errors:
        for e in errors:
            print(f"affectd: model error: {e}", file=sys.stderr)
        raise SystemExit(EX_DATAERR)

    report = {"config": str(args.config), "device_id": settings.device.id,
              "mqtt": f"{settings.mqtt.host}:{settings.mqtt.port}",
              "analyzers": analyzers, "devices": detected_devices(),
              "models": [f"{e.id}@{e.version} (sha256 ok)" for e in reg.entries.values()],
              "warnings": source_warnings(settings)}
    for warning in report["warnings"]:
        print(f"affectd: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"config OK: {args.config}")
        for k, v in report.items():
            if k != "config":
                print(f"  {k}: {v}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from edge.registry import Registry

    reg = Registry()
    rows: list[dict[str, Any]] = []
    for e in sorted(reg.entries.values(), key=lambda e: e.id):
        try:
            reg.verify(e.id)
            status = "ok"
        except Exception as exc:  # report every model, whatever is wrong with one
            status = str(exc)
        rows.append({"id": e.id, "version": e.version, "file": e.file, "task": e.task,
                     "licence": e.licence, "metrics": e.metrics, "status": status})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            metrics = ", ".join(f"{k}={v}" for k, v in r["metrics"].items())
            print(f"{r['id']:22} {r['version']:8} {r['task']:16} {r['licence']:12} "
                  f"{r['status']}\n    {metrics}")
    return 0 if all(r["status"] == "ok" for r in rows) else EX_DATAERR


def cmd_discovery(args: argparse.Namespace) -> int:
    """`affectd discovery --clear`: remove a device from Home Assistant (its retained
    discovery config, availability and privacy state emptied on the config's broker)."""
    settings = _load(args)
    if not args.clear:
        from edge.profiles import profile_class
        from edge.publish.payloads import Topics, discovery_payload

        topics = Topics.from_settings(settings)
        payload = discovery_payload(settings, topics, profile_class(settings.publish.profile))
        print(json.dumps({"topic": topics.discovery, "payload": payload}, indent=2))
        return 0
    from edge.publish.mqtt import clear_device

    try:
        cleared = clear_device(settings, args.id)
    except ConnectionError as exc:
        print(f"affectd: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    for topic in cleared:
        print(f"cleared {topic}")
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    """List the wearables in range with the `[physio] devices` line that reads them."""
    import asyncio

    from firmware_bridge.scan import scan_wearables

    try:
        found = asyncio.run(scan_wearables(args.seconds))
    except Exception as exc:  # no adapter, BlueZ or D-Bus: bleak raises several kinds
        print(f"affectd: cannot scan for wearables: no usable Bluetooth adapter "
              f"({type(exc).__name__}: {exc or 'no detail'}); is bluetoothd running and "
              f"the adapter up (`bluetoothctl show`)?", file=sys.stderr)
        return EX_UNAVAILABLE
    if args.json:
        print(json.dumps([{"kind": f.kind, "address": f.address, "name": f.name,
                           "rssi": f.rssi, "device": f.device} for f in found]))
        return 0
    if not found:
        print(f"no wearable heard in {args.seconds:g} s: wake it (wear the strap, moisten "
              "its electrodes; switch the sensor on) and scan again", file=sys.stderr)
        return 1
    for f in found:
        print(f"{f.device:<30} {f.rssi if f.rssi is not None else '?':>4} dBm  {f.name or ''}")
    print("\n[physio]\nbackend = \"ble\"\ndevices = [" +
          ", ".join(f'"{f.device}"' for f in found) + "]")
    return 0


DAEMON_COMMANDS = ("run", "check", "models", "discovery", "scan")
COMMAND_GROUP = "affectd.commands"


def plugin_commands() -> list[Any]:
    """The entry points that add sub-commands (the lab's, and any third party's)."""
    from importlib.metadata import entry_points

    return sorted(entry_points(group=COMMAND_GROUP), key=lambda ep: ep.name)


def build_parser(with_plugins: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="affectd", description="On-device emotion sensing: run the daemon, check a config "
        "and list its models; bench, eval, replay and demo measure it (the lab).")
    p.add_argument("--version", action="version", version=f"affectd {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", "-c", default=str(DEFAULT_CONFIG))
    run.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    run.add_argument("--fast", action="store_true", help="replay files as fast as possible")
    run.set_defaults(func=cmd_run)
    chk = sub.add_parser("check", help="validate a config, list devices and analyzers")
    chk.add_argument("--config", "-c", default=str(DEFAULT_CONFIG))
    chk.add_argument("--json", action="store_true")
    chk.set_defaults(func=cmd_check)
    models = sub.add_parser("models", help="list registered models, verify their checksums")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    disc = sub.add_parser("discovery", help="print the Home Assistant discovery config, or "
                          "--clear it from the broker (a device that is gone)")
    disc.add_argument("--config", "-c", default=str(DEFAULT_CONFIG))
    disc.add_argument("--clear", action="store_true", help="empty the retained discovery "
                      "config, availability and privacy state: HA removes the device")
    disc.add_argument("--id", default=None, help="the device id to clear (default: the "
                      "config's device.id), e.g. an old id after renaming a device")
    disc.set_defaults(func=cmd_discovery)
    scan = sub.add_parser("scan", help="list the wearables in range and the [physio] "
                          "devices line that reads them")
    scan.add_argument("--seconds", type=float, default=8.0, help="how long to listen")
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(func=cmd_scan)
    if with_plugins:
        for ep in plugin_commands():
            ep.load()(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # A SIGTERM while the daemon starts (imports, config, models: seconds on a Pi) must
    # end the start-up cleanly, not kill the interpreter halfway: remember it from the
    # first moment, and `cmd_run` stops before running.
    early_stop: list[int] = []
    if argv[:1] == ["run"]:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: early_stop.append(signum))
    daemon_only = bool(argv) and argv[0] in DAEMON_COMMANDS
    args = build_parser(with_plugins=not daemon_only).parse_args(argv)
    args.early_stop = early_stop
    from edge.config import EX_CONFIG, ConfigError
    from edge.registry import ModelError

    try:
        return int(args.func(args))
    except ConfigError as exc:
        for line in exc.lines:  # every problem of the file, one line each
            print(f"affectd: config error: {line}", file=sys.stderr)
        return EX_CONFIG
    except ModelError as exc:
        print(f"affectd: model error: {exc}", file=sys.stderr)
        return EX_DATAERR


__all__ = ["main"]
