"""The lab's commands: `affectd bench | eval | replay | outputs | demo`.

They measure the daemon (speed against peers run side by side, accuracy on
datasets, replays of recorded media, a demo on emulated inputs) and are not
needed to run it: `edge.cli` adds them through the `affectd.commands` entry
point (pyproject.toml) only when one of them is asked for, so `affectd run`
imports nothing of the lab.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.config import ConfigError, load_settings, parse_settings
from edge.lab.report import print_report

SPEECH_BULK = ("confusion", "per_class", "labels")


def cmd_bench(args: argparse.Namespace) -> int:
    from edge.lab.bench import models as bench

    if args.what == "models":
        print_report(bench.bench_models(args.runs), args.json, bench.models_lines)
    elif args.what == "vision":
        from edge.lab.bench.vision import bench_vision, vision_lines
        from edge.lab.data import data_root

        data = Path(args.data) if args.data else data_root()
        print_report(bench_vision(data, args.frames, peer=args.vs == "fer"), args.json,
                     vision_lines)
    elif args.what == "pipeline":
        from edge.lab.bench.pipeline import bench_pipeline
        from edge.lab.data import data_root

        root = Path(args.data) if args.data else data_root()
        video = Path(args.video) if args.video else root / "video" / "WolfgangLanger_Pexels.mp4"
        print_report(bench_pipeline(video, args.seconds,
                                    1 if args.tiles is None else args.tiles), args.json)
    elif args.what == "biofeedback":
        from edge.lab.bench.pipeline import bench_biofeedback

        print_report(bench_biofeedback(args.seconds), args.json)
    elif args.what == "soak":
        from edge.lab.bench.soak import bench_soak
        from edge.lab.data import data_root

        root = Path(args.data) if args.data else data_root()
        video = Path(args.video) if args.video else root / "video" / "WolfgangLanger_Pexels.mp4"
        seconds = 3600.0 * args.hours if args.hours else 60.0 * args.minutes
        soak = bench_soak(video, seconds, warmup_s=60.0 * args.warmup_min,
                          sample_s=args.sample_s)
        print_report(soak, args.json, omit=("samples",))
        return 0 if soak["ok"] else 1
    elif args.what == "physio":
        from edge.lab.bench.physio import bench_physio
        from edge.lab.data import data_root

        root = Path(args.data) if args.data else data_root()
        kw = {} if args.chunk_s is None else {"chunk_s": args.chunk_s}
        e4 = root / "physio" / "empatica_e4" / "EDA.csv"
        print_report(bench_physio(root / "physio" / "mitdb" / "100", args.vs == "neurokit2",
                                  eda_csv=e4 if e4.is_file() else None, **kw), args.json)
    elif args.what == "vad":
        from edge.lab.bench.vad import bench_vad, vad_lines
        from edge.lab.data import data_root

        root = Path(args.data) if args.data else data_root()
        print_report(bench_vad(root, args.stride), args.json, vad_lines)
    elif args.what == "speech":
        from edge.lab.data import data_root
        from edge.lab.evaluate.speech import bench_speech

        root = Path(args.data) if args.data else data_root()
        clip = next(iter(sorted((root / "speech" / "ravdess").rglob("*.flac"))), None) \
            if (root / "speech" / "ravdess").is_dir() else None
        print_report(bench_speech(clip), args.json, omit=SPEECH_BULK)
    return 0


def _voice_settings(args: argparse.Namespace) -> Any:
    """[voice] of --config (or the defaults), with --prior / --no-prosody applied."""
    from dataclasses import replace

    voice = load_settings(Path(args.config)).voice if args.config else parse_settings({}).voice
    if args.prior:
        voice = replace(voice, prior=args.prior)
    if args.no_prosody:
        voice = replace(voice, prosody=False)
    return voice


def _face_settings(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    face = load_settings(Path(args.config)).face if args.config else parse_settings({}).face
    if args.detector:
        face = replace(face, detector=args.detector)
    if args.expression:
        face = replace(face, expression=args.expression)
    if args.tiles is not None:
        face = replace(face, tiles=args.tiles)
    return face


def cmd_replay(args: argparse.Namespace) -> int:
    if args.plot:
        from edge.lab.timeline import plot, timeline

        cfg = load_settings(Path(args.config)) if args.config else parse_settings({})
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
    from edge.lab.replay import replay

    if not args.video:
        raise ConfigError("--video", "required (or give --plot with --audio/--e4)")
    replay(Path(args.video), args.json, Path(args.render) if args.render else None,
           _face_settings(args), args.threads)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.what == "face":
        from edge.lab.evaluate.face import evaluate_face, face_lines

        if not args.images:
            raise ConfigError("--images", "required for eval face")
        print_report(evaluate_face(Path(args.images), args.crops, _face_settings(args),
                                   args.threads), args.json, face_lines)
    elif args.what == "aus":
        from edge.lab.evaluate.aus import aus_lines, evaluate_aus

        if not args.images:
            raise ConfigError("--images", "required for eval aus")
        print_report(evaluate_aus(Path(args.images), args.crops, _face_settings(args),
                                  args.threads), args.json, aus_lines)
    elif args.what == "fusion":
        from edge.lab.data import data_root
        from edge.lab.evaluate.fusion import evaluate_fusion, fusion_lines

        print_report(evaluate_fusion(data_root()), args.json, fusion_lines)
    elif args.what == "stress":
        from edge.lab.evaluate.stress import evaluate_stress, stress_lines

        if not args.e4:
            raise ConfigError("--e4", "required for eval stress (a Stress-Predict folder)")
        if args.monotone and (args.wesad or args.nested or args.model == "shipped"):
            raise ConfigError("--monotone", "only for the leave-one-subject-out refit "
                              "(not with --wesad, --nested or --model shipped)")
        if args.wesad:
            from edge.lab.evaluate.wesad import cross_dataset, wesad_lines

            try:
                report = cross_dataset(Path(args.e4), Path(args.wesad))
            except (OSError, ValueError) as exc:
                raise ConfigError("--wesad", str(exc)) from None
            print_report(report, args.json, wesad_lines)
        elif args.nested:
            from edge.lab.evaluate.stress import SHIPPED_ORDERS
            from edge.lab.evaluate.stress_nested import evaluate_nested, nested_lines

            print_report(evaluate_nested(Path(args.e4), tuple(args.orders or SHIPPED_ORDERS)),
                         args.json, nested_lines)
        elif args.model == "shipped":
            from edge.lab.evaluate.stress import SHIPPED_ORDERS, evaluate_shipped, shipped_lines

            orders = tuple(args.orders) if args.orders else SHIPPED_ORDERS
            wanted = set(args.subjects or [])
            print_report(evaluate_shipped(Path(args.e4), orders,
                                          participants=lambda pid: not wanted or pid in wanted,
                                          temperature=not args.without_temperature,
                                          temperature_hz=args.temperature_hz),
                         args.json, shipped_lines)
        else:
            from edge.lab.evaluate.stress import monotone_constraints
            from edge.physio.stress_model import ALL_FEATURES, FEATURES

            features = FEATURES if args.without_temperature else ALL_FEATURES
            monotone = tuple(args.monotone or ())
            try:
                monotone_constraints(features, monotone)
            except ValueError as exc:
                raise ConfigError("--monotone", str(exc)) from None
            if args.orders and args.shuffle_blocks is not None:
                raise ConfigError("--orders", "give --orders or --shuffle-blocks, not both")
            orders = tuple(args.orders) if args.orders else (args.shuffle_blocks,)
            print_report(evaluate_stress(Path(args.e4), orders, features=features,
                                         monotone=monotone), args.json, stress_lines)
    elif args.what == "ecg":
        from edge.lab.evaluate.ecg import ecg_lines, evaluate_records

        if args.csv:
            from edge.lab.evaluate.ecg_csv import csv_lines, evaluate_csv

            try:
                print_report(evaluate_csv(Path(args.csv)), args.json, csv_lines)
            except (OSError, ValueError) as exc:
                raise ConfigError("--csv", str(exc)) from None
            return 0
        if not args.record:
            raise ConfigError("--record", "required for eval ecg (or --csv)")
        print_report(evaluate_records([Path(r) for r in args.record], args.fs), args.json,
                     ecg_lines)
    elif args.what == "distance":
        from edge.lab.data import data_root
        from edge.lab.evaluate.distance import distance_lines, evaluate_distance

        print_report(evaluate_distance(data_root()), args.json, distance_lines)
    elif args.what == "speech":
        from edge.lab.evaluate.speech import evaluate_speech

        if not args.audio:
            raise ConfigError("--audio", "required for eval speech")
        labels = [v.strip() for v in args.labels.split(",") if v.strip()] \
            if args.labels else None
        try:
            report = evaluate_speech(Path(args.audio), 1, args.order_seed, labels,
                                     _voice_settings(args))
        except ValueError as exc:
            raise ConfigError("--labels", str(exc)) from None
        print_report(report, args.json, omit=SPEECH_BULK)
    return 0


def cmd_outputs(args: argparse.Namespace) -> int:
    from edge.lab.outputs import model_outputs, outputs_lines

    print_report(model_outputs(args.seed, args.threads), args.json, outputs_lines)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.lab.demo import run_demo

    return run_demo(seconds=args.seconds, port=args.port)


def register(sub: Any) -> None:
    """Add the lab's sub-commands to the `affectd` parser (`sub`: its subparsers)."""
    bench = sub.add_parser("bench", help="measure speed (int8 vs float, vs peers)")
    bench.add_argument("what", choices=["models", "vision", "speech", "vad", "physio", "pipeline",
                                        "soak", "biofeedback"])
    bench.add_argument("--stride", type=int, default=4,
                       help="vad: every Nth speech clip of the data's speech corpora")
    bench.add_argument("--seconds", type=float, default=30.0, help="pipeline: duration")
    bench.add_argument("--video", help="pipeline, soak: video file (default: a clip in the data)")
    bench.add_argument("--tiles", type=int, choices=[0, 1, 2],
                       help="pipeline: face detector tiles (0 never, 1 auto, 2 always)")
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
    ev.add_argument("what", choices=["face", "aus", "speech", "ecg", "fusion", "stress",
                                     "distance"])
    ev.add_argument("--e4", help="stress: Stress-Predict folder (Raw_data/, labels_per_second.csv)")
    ev.add_argument("--shuffle-blocks", type=int, default=None, metavar="SEED",
                    help="stress: reorder each subject's label blocks (first rest stays first)")
    ev.add_argument("--model", choices=["loso", "shipped"], default="loso",
                    help="stress: refit leave-one-subject-out (default), or score the shipped "
                         "model on the folder's subjects (new people: a generalisation figure)")
    ev.add_argument("--orders", type=int, nargs="+", metavar="SEED",
                    help="stress: block orders to stream (--model shipped and --nested: "
                         "default 1 2 3 4 5; leave-one-subject-out: instead of "
                         "--shuffle-blocks, reported with their mean and spread)")
    ev.add_argument("--monotone", nargs="+", metavar="FEATURE",
                    help="stress, leave-one-subject-out: trees whose p(stress) never falls "
                         "as this window's value of these features rises (a variant)")
    ev.add_argument("--subjects", type=int, nargs="+", metavar="N",
                    help="stress: only these participant numbers")
    ev.add_argument("--nested", action="store_true",
                    help="stress: nested leave-one-subject-out (the recipe's choices made "
                         "inside the training folds), over --orders")
    ev.add_argument("--without-temperature", action="store_true",
                    help="stress: as for a wearer without a thermometer (the heart-and-skin "
                         "model and recipe; default: skin temperature read where recorded)")
    ev.add_argument("--temperature-hz", type=float, default=None, metavar="HZ",
                    help="stress --model shipped: skin temperature as a BLE thermometer "
                         "sends it (block means at HZ, 0.01 °C; default: as recorded)")
    ev.add_argument("--wesad", help="stress: WESAD wrist-feature CSV for a cross-dataset "
                    "check on the features both share")
    ev.add_argument("--record", action="append", help="ecg: WFDB record path (repeatable)")
    ev.add_argument("--fs", type=float, default=None, help="ecg: resample to this rate")
    ev.add_argument("--csv", help="ecg: a wearable export (time_s, ecg[, rr in ms])")
    ev.add_argument("--audio", help="speech: folder of RAVDESS/EmoDB-named or <label>/ clips")
    ev.add_argument("--labels", help="speech: comma-separated labels to score (others "
                    "skipped) and to restrict the argmax to; default: the labels present")
    ev.add_argument("--order-seed", type=int, default=0,
                    help="speech: order in which each speaker's clips are played (the online "
                         "speaker normalisation learns from earlier clips only)")
    ev.add_argument("--prior", choices=["everyday", "uniform"],
                    help="speech: the voice output's prior (default: [voice] prior, everyday)")
    ev.add_argument("--no-prosody", action="store_true",
                    help="speech: the network alone, without the prosody head")
    ev.add_argument("--images", help="face, aus: folder of <label>/*.jpg")
    ev.add_argument("--crops", action="store_true", help="face, aus: images are face crops")
    for sp in (rep, ev):
        sp.add_argument("--json", action="store_true")
        sp.add_argument("--config", "-c", default=None)
        sp.add_argument("--detector", choices=["short", "full"])
        sp.add_argument("--expression", choices=["single", "ensemble"],
                        help="expression model (default: [face] expression, single)")
        sp.add_argument("--tiles", type=int, choices=[0, 1, 2],
                        help="face detector tiles: 0 never, 1 auto (default), 2 always")
        sp.add_argument("--threads", type=int, default=2)
    rep.set_defaults(func=cmd_replay)
    ev.set_defaults(func=cmd_eval)
    out = sub.add_parser("outputs", help="digests of every model's outputs on fixed inputs "
                         "(bitwise comparison across machines)")
    out.add_argument("--seed", type=int, default=0)
    out.add_argument("--threads", type=int, default=2)
    out.add_argument("--json", action="store_true")
    out.set_defaults(func=cmd_outputs)
    demo = sub.add_parser("demo", help="run with an embedded broker and generated inputs")
    demo.add_argument("--seconds", type=float, default=None)
    demo.add_argument("--port", type=int, default=None)
    demo.set_defaults(func=cmd_demo)
