"""The `affectd` command line: run, check, demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from edge import __version__
from edge.config import EX_CONFIG, ConfigError, load_settings, parse_settings
from edge.settings import Settings

DEFAULT_CONFIG = Path("/etc/affectd/affectd.toml")


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _load(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "fast", False):
        overrides = {"physio": {"realtime": False}, "camera": {"realtime": False},
                     "microphone": {"realtime": False}}
    return load_settings(Path(args.config), overrides)


def cmd_run(args: argparse.Namespace) -> int:
    settings = _load(args)
    _setup_logging(settings.runtime.log_level)
    from edge.daemon import Daemon

    daemon = Daemon(settings)
    daemon.install_signal_handlers()
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
    from edge.sources import build_sources

    analyzers = [build_analyzer(src, settings).name for src in build_sources(settings)]
    report = {"config": str(args.config), "device_id": settings.device.id,
              "mqtt": f"{settings.mqtt.host}:{settings.mqtt.port}",
              "analyzers": analyzers, "devices": detected_devices()}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"config OK: {args.config}")
        for k, v in report.items():
            if k != "config":
                print(f"  {k}: {v}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.demo import run_demo

    return run_demo(seconds=args.seconds, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="affectd", description=__doc__)
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
    demo = sub.add_parser("demo", help="run with an embedded broker and generated inputs")
    demo.add_argument("--seconds", type=float, default=None)
    demo.add_argument("--port", type=int, default=None)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"affectd: config error: {exc}", file=sys.stderr)
        return EX_CONFIG


__all__ = ["main", "parse_settings"]
