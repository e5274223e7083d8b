"""The `affectd` command line: run, check, demo."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from edge import __version__
from edge.config import EX_CONFIG, ConfigError, load_settings, parse_settings
from edge.settings import Settings

DEFAULT_CONFIG = Path("/etc/affectd/affectd.toml")
EX_DATAERR = 65


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
    # A SIGTERM while models load (seconds on a Pi) must end the start-up cleanly,
    # not kill the interpreter halfway: remember it, then stop before running.
    early_stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early_stop.append(signum))
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
    from edge.sources import build_sources

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
              "models": [f"{e.id}@{e.version} (sha256 ok)" for e in reg.entries.values()]}
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


def cmd_bench(args: argparse.Namespace) -> int:
    from edge import bench

    if args.what == "models":
        bench.print_models(bench.bench_models(args.runs), args.json)
    elif args.what == "vision":
        from edge.bench_vision import bench_vision, print_vision
        from models.training.data import data_root

        data = Path(args.data) if args.data else data_root()
        print_vision(bench_vision(data, args.frames, peer=args.vs == "fer"), args.json)
    elif args.what == "pipeline":
        from edge.bench_pipeline import bench_pipeline, print_pipeline
        from models.training.data import data_root

        root = Path(args.data) if args.data else data_root()
        video = Path(args.video) if args.video else root / "video" / "WolfgangLanger_Pexels.mp4"
        print_pipeline(bench_pipeline(video, args.seconds, args.tiles or 0), args.json)
    elif args.what == "biofeedback":
        from edge.bench_pipeline import bench_biofeedback, print_pipeline

        print_pipeline(bench_biofeedback(args.seconds), args.json)
    elif args.what == "soak":
        from edge.bench_soak import bench_soak, print_soak
        from models.training.data import data_root

        root = Path(args.data) if args.data else data_root()
        video = Path(args.video) if args.video else root / "video" / "WolfgangLanger_Pexels.mp4"
        seconds = 3600.0 * args.hours if args.hours else 60.0 * args.minutes
        soak = bench_soak(video, seconds, warmup_s=60.0 * args.warmup_min,
                          sample_s=args.sample_s)
        print_soak(soak, args.json)
        return 0 if soak["ok"] else 1
    elif args.what == "physio":
        from edge.physio.bench import bench_physio, print_physio
        from models.training.data import data_root

        root = Path(args.data) if args.data else data_root()
        kw = {} if args.chunk_s is None else {"chunk_s": args.chunk_s}
        print_physio(bench_physio(root / "physio" / "mitdb" / "100", args.vs == "neurokit2",
                                  **kw), args.json)
    elif args.what == "speech":
        from edge.speech.tools import bench_speech, print_json_or_text
        from models.training.data import data_root

        root = Path(args.data) if args.data else data_root()
        clip = next(iter(sorted((root / "speech" / "ravdess").rglob("*.flac"))), None) \
            if (root / "speech" / "ravdess").is_dir() else None
        print_json_or_text(bench_speech(clip), args.json)
    return 0


def _face_settings(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    face = _load(args).face if args.config else parse_settings({}).face
    if args.detector:
        face = replace(face, detector=args.detector)
    if args.tiles is not None:
        face = replace(face, tiles=args.tiles)
    return face


def cmd_replay(args: argparse.Namespace) -> int:
    if args.plot:
        from edge.timeline import plot, timeline

        cfg = _load(args) if args.config else parse_settings({})
        rows = timeline(Path(args.video) if args.video else None,
                        Path(args.audio) if args.audio else None,
                        Path(args.e4) if args.e4 else None, args.seconds,
                        fusion=cfg.fusion, face=_face_settings(args),
                        calibration_s=cfg.physio.calibration_s)
        plot(rows, Path(args.plot))
        if args.json:
            for r in rows:
                print(json.dumps(r))
        print(f"affectd replay: {len(rows)} points, plot in {args.plot}", file=sys.stderr)
        return 0
    from edge.vision.tools import replay

    if not args.video:
        raise ConfigError("--video", "required (or give --plot with --audio/--e4)")
    replay(Path(args.video), args.json, Path(args.render) if args.render else None,
           _face_settings(args), args.threads)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.what == "face":
        from edge.vision.evaluate import evaluate_face, print_report

        if not args.images:
            raise ConfigError("--images", "required for eval face")
        print_report(evaluate_face(Path(args.images), args.crops, _face_settings(args),
                                   args.threads), args.json)
    elif args.what == "fusion":
        from edge.fusion_eval import evaluate_fusion, print_fusion
        from models.training.data import data_root

        print_fusion(evaluate_fusion(data_root()), args.json)
    elif args.what == "stress":
        from edge.physio.stress_eval import evaluate_stress, print_stress

        if not args.e4:
            raise ConfigError("--e4", "required for eval stress (a Stress-Predict folder)")
        print_stress(evaluate_stress(Path(args.e4), args.shuffle_blocks), args.json)
    elif args.what == "ecg":
        from edge.physio.evaluate import evaluate_records, print_ecg

        if not args.record:
            raise ConfigError("--record", "required for eval ecg")
        print_ecg(evaluate_records([Path(r) for r in args.record], args.fs), args.json)
    elif args.what == "speech":
        from edge.speech.tools import evaluate_speech, print_json_or_text

        if not args.audio:
            raise ConfigError("--audio", "required for eval speech")
        print_json_or_text(evaluate_speech(Path(args.audio), 1, args.order_seed), args.json)
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
    models = sub.add_parser("models", help="list registered models, verify their checksums")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    bench = sub.add_parser("bench", help="measure speed (int8 vs float, vs peers)")
    bench.add_argument("what", choices=["models", "vision", "speech", "physio", "pipeline", "soak",
                                        "biofeedback"])
    bench.add_argument("--seconds", type=float, default=30.0, help="pipeline: duration")
    bench.add_argument("--video", help="pipeline, soak: video file (default: a clip in the data)")
    bench.add_argument("--tiles", type=int, choices=[0, 2], help="pipeline: face detector tiles")
    bench.add_argument("--minutes", type=float, default=30.0, help="soak: measured duration")
    bench.add_argument("--hours", type=float, default=None, help="soak: duration in hours")
    bench.add_argument("--warmup-min", type=float, default=3.0, help="soak: warm-up minutes")
    bench.add_argument("--sample-s", type=float, default=60.0, help="soak: sampling interval")
    bench.add_argument("--vs", choices=["fer", "neurokit2"],
                       help="also run this peer (vision: fer; physio: neurokit2)")
    bench.add_argument("--chunk-s", type=float, default=None,
                       help="physio: seconds of ECG per call of the R-peak detector "
                            "(default: the analyzer's ECG block, 2 s)")
    bench.add_argument("--data", help="dataset folder (default $AFFECTD_DATA)")
    bench.add_argument("--frames", type=int, default=200)
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--runs", type=int, default=100)
    bench.set_defaults(func=cmd_bench)
    rep = sub.add_parser("replay", help="run the vision path over a video or image file")
    rep.add_argument("--video", help="video (or image) for the face path")
    rep.add_argument("--render", help="write an annotated video here")
    rep.add_argument("--plot", help="write a timeline PNG of the fused output here")
    rep.add_argument("--audio", help="plot: speech file for the voice path")
    rep.add_argument("--e4", help="plot: Empatica E4 folder for the physiology path")
    rep.add_argument("--seconds", type=float, default=120.0, help="plot: media time to use")
    ev = sub.add_parser("eval", help="measure accuracy on labelled data")
    ev.add_argument("what", choices=["face", "speech", "ecg", "fusion", "stress"])
    ev.add_argument("--e4", help="stress: Stress-Predict folder (Raw_data/, labels_per_second.csv)")
    ev.add_argument("--shuffle-blocks", type=int, default=None, metavar="SEED",
                    help="stress: reorder each subject's label blocks (first rest stays first)")
    ev.add_argument("--record", action="append", help="ecg: WFDB record path (repeatable)")
    ev.add_argument("--fs", type=float, default=None, help="ecg: resample to this rate")
    ev.add_argument("--audio", help="speech: folder of RAVDESS/EmoDB-named or <label>/ clips")
    ev.add_argument("--order-seed", type=int, default=0,
                    help="speech: order in which each speaker's clips are played (the online "
                         "speaker normalisation learns from earlier clips only)")
    ev.add_argument("--images", help="face: folder of <label>/*.jpg")
    ev.add_argument("--crops", action="store_true", help="face: images are face crops")
    for sp in (rep, ev):
        sp.add_argument("--json", action="store_true")
        sp.add_argument("--config", "-c", default=None)
        sp.add_argument("--detector", choices=["short", "full"])
        sp.add_argument("--tiles", type=int, choices=[0, 2])
        sp.add_argument("--threads", type=int, default=2)
    rep.set_defaults(func=cmd_replay)
    ev.set_defaults(func=cmd_eval)
    demo = sub.add_parser("demo", help="run with an embedded broker and generated inputs")
    demo.add_argument("--seconds", type=float, default=None)
    demo.add_argument("--port", type=int, default=None)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from edge.registry import ModelError

    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"affectd: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except ModelError as exc:
        print(f"affectd: model error: {exc}", file=sys.stderr)
        return EX_DATAERR


__all__ = ["main", "parse_settings"]
