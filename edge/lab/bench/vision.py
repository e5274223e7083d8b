"""`affectd bench vision [--vs fer]`: frames per second of face detection + expression
on the same 640x480 frames: our int8 path (as configured by default: with the face
mesh, head pose and action units; and without them), our float twins through the
same code, and the `fer` package (its TFLite model with its Haar detector), in one
process.

Memory of the vision path alone (`rss_mb`) is measured in a child process that
loads only our int8 models, so the peer's TensorFlow does not count against it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

DEFAULT_CLIP = "video/WolfgangLanger_Pexels.mp4"
AGREEMENT_CLIPS = (DEFAULT_CLIP, "video/single_face.mp4")
"""Real clips on which reading a face's expression every Nth frame is compared with
reading it on every frame (`label_agreement_by_expression_every`)."""


@dataclass(frozen=True)
class Run:
    """One pass of our vision path over the frames."""

    fps: float
    with_face: int
    """Frames with at least one face."""
    labels: list[tuple[tuple[int, str], ...]]
    """Per frame: each reported face's track and smoothed label."""


def load_frames(path: Path, n: int) -> list[npt.NDArray[np.uint8]]:
    """`n` frames of the clip at 640x480 (read through the daemon's file source, from the
    start again when the clip is shorter)."""
    from edge.lab.media import frames as media_frames

    out: list[npt.NDArray[np.uint8]] = []
    while len(out) < n:
        before = len(out)
        for _, _, img in media_frames(path):
            out.append(np.asarray(cv2.resize(img, (640, 480), interpolation=cv2.INTER_AREA),
                                  np.uint8))
            if len(out) == n:
                break
        if len(out) == before:
            raise SystemExit(f"affectd: no frames in {path}")
    return out


def _run_ours(frames: list[npt.NDArray[np.uint8]], threads: int, use_float: bool,
              tiles: int = 1, action_units: bool = True, expression: str | None = None,
              expression_every: int | None = None) -> Run:
    """The float twins run without the mesh (action units are an int8-only addition;
    compare them with `action_units=False`)."""
    from edge.face.analyzer import DETECTOR_IDS, EXPRESSION_IDS, FaceAnalyzer
    from edge.inference import TFLiteModel
    from edge.settings import FaceSettings

    expression = expression or FaceSettings().expression
    every = expression_every or FaceSettings().expression_every
    models = None
    if use_float:
        from edge.lab.data import float_model_path

        models = (TFLiteModel(float_model_path(DETECTOR_IDS["short"]), threads),
                  TFLiteModel(float_model_path(EXPRESSION_IDS[expression]), threads))
    an = FaceAnalyzer(FaceSettings(tiles=tiles, action_units=action_units and not use_float,
                                   expression=expression, expression_every=every),
                      threads=threads, models=models)
    an.analyze(frames[0], 0.0)  # warm-up
    an.reset()
    labels = []
    t0 = time.perf_counter()
    for i, f in enumerate(frames):
        labels.append(tuple((r.track, r.emotion) for r in an.analyze(f, i / 15.0)))
    fps = len(frames) / (time.perf_counter() - t0)
    return Run(fps, sum(bool(frame) for frame in labels), labels)


def label_agreement(every: Run, other: Run) -> float:
    """Share of frames whose faces (tracks and smoothed labels) are the same in both runs."""
    return round(float(np.mean([a == b for a, b in zip(every.labels, other.labels,
                                                         strict=True)])), 4)


def _run_peer(frames: list[npt.NDArray[np.uint8]], threads: int) -> tuple[float, int]:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    from fer.fer import FER

    peer = FER()
    peer.detect_emotions(frames[0])
    with_face = 0
    t0 = time.perf_counter()
    for f in frames:
        with_face += bool(peer.detect_emotions(f))
    return len(frames) / (time.perf_counter() - t0), with_face


def _rss_child(clip: str, n: int, q: Any) -> None:
    """Stream frames through the int8 path as the daemon does; report the peak RSS of
    this process (VmHWM: ru_maxrss would carry the parent's peak over exec on Linux)."""
    from edge.face.analyzer import FaceAnalyzer
    from edge.settings import FaceSettings

    an = FaceAnalyzer(FaceSettings(), threads=2)
    cap = cv2.VideoCapture(clip)
    for i in range(n):
        ok, img = cap.read()
        if not ok:
            break
        an.analyze(np.asarray(cv2.resize(img, (640, 480)), np.uint8), i / 15.0)
    cap.release()
    hwm = next(int(ln.split()[1]) for ln in Path("/proc/self/status").read_text().splitlines()
               if ln.startswith("VmHWM:"))
    q.put(hwm / 1024.0)


def vision_rss_mb(clip: Path, n: int = 60) -> float:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_rss_child, args=(str(clip), n, q))
    p.start()
    value = float(q.get(timeout=300))
    p.join(60)
    return round(value, 1)


def bench_vision(data: Path, frames_n: int = 200, peer: bool = True) -> dict[str, Any]:
    from edge.settings import FaceSettings

    clip = data / DEFAULT_CLIP
    frames = load_frames(clip, frames_n)
    out: dict[str, Any] = {"frames": len(frames), "threads": [1, 2], "clip": DEFAULT_CLIP,
                           "resolution": "640x480"}
    fps: dict[str, dict[int, float]] = {"int8": {}, "float": {}, "peer": {}}
    faces: dict[str, int] = {}
    int8_runs: dict[int, Run] = {}
    for t in (1, 2):
        run = int8_runs[t] = _run_ours(frames, t, use_float=False)
        fps["int8"][t], faces["int8"] = run.fps, run.with_face
        try:
            run = _run_ours(frames, t, use_float=True)
            fps["float"][t], faces["float"] = run.fps, run.with_face
        except (ImportError, ValueError, OSError) as e:  # float twins live in the cache only
            out["float_missing"] = (f"{type(e).__name__}: {e} (`python -m quantize build "
                                    f"models/recipes/<model>.toml` leaves the float twins)")
        if peer:
            fps["peer"][t], faces["peer"] = _run_peer(frames, t)
    out["fps_int8"] = {str(t): round(v, 1) for t, v in fps["int8"].items()}
    # null (with `float_missing` saying why) where the float twins are not built here
    out["fps_float"] = {str(t): round(v, 1) for t, v in fps["float"].items()} or None
    out["frames_with_face"] = faces
    if peer:
        out["fps_peer"] = {str(t): round(v, 1) for t, v in fps["peer"].items()}
        out["ratio_vs_peer"] = round(fps["int8"][2] / fps["peer"][2], 2)
    no_aus = _run_ours(frames, 2, False, action_units=False).fps
    out["fps_int8_by_action_units"] = {"off": round(no_aus, 1), "on": out["fps_int8"]["2"]}
    if peer:
        out["ratio_vs_peer_without_action_units"] = round(no_aus / fps["peer"][2], 2)
    out["int8_vs_float_latency"] = round(fps["float"][2] / no_aus, 3) if 2 in fps["float"] else None
    # what looking for small faces costs (2 threads): never, auto (the default), always
    out["fps_int8_by_tiles"] = {"0": round(_run_ours(frames, 2, False, tiles=0).fps, 1),
                                "1": out["fps_int8"]["2"],
                                "2": round(_run_ours(frames, 2, False, tiles=2).fps, 1)}
    # each expression model (`face.expression`), the mesh on as by default
    default = FaceSettings().expression
    out["fps_int8_by_expression"] = {
        e: out["fps_int8"]["2"] if e == default else round(
            _run_ours(frames, 2, False, expression=e).fps, 1) for e in ("single", "ensemble")}
    out.update(_by_expression_every(data, frames, int8_runs[2]))
    out["rss_mb"] = vision_rss_mb(clip)
    return out


def _by_expression_every(data: Path, frames: list[npt.NDArray[np.uint8]],
                         default_run: Run) -> dict[str, Any]:
    """The expression model on every frame of a face, every 3rd, and as configured by
    default: frames per second on the bench clip (`frames`, of which `default_run` is the
    default pass at 2 threads), and on each of `AGREEMENT_CLIPS` (as many frames) the share
    of frames whose faces keep the labels read on every frame."""
    from edge.settings import FaceSettings

    default_every = FaceSettings().expression_every
    settings = sorted({1, 3, default_every})
    agreement: dict[str, dict[str, float]] = {}
    bench_runs: dict[int, Run] = {}
    for name in AGREEMENT_CLIPS:
        if name == DEFAULT_CLIP:
            runs = bench_runs = {n: default_run if n == default_every
                                 else _run_ours(frames, 2, False, expression_every=n)
                                 for n in settings}
        else:
            clip_frames = load_frames(data / name, len(frames))
            runs = {n: _run_ours(clip_frames, 2, False, expression_every=n) for n in settings}
        agreement[Path(name).name] = {str(n): label_agreement(runs[1], r)
                                      for n, r in runs.items() if n != 1}
    return {"fps_int8_by_expression_every": {str(n): round(r.fps, 1)
                                             for n, r in bench_runs.items()},
            "label_agreement_by_expression_every": agreement}


def vision_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    out: list[str] = []
    out.append(f"{r['frames']} frames of {r['clip']} at {r['resolution']}")
    for k in ("fps_int8", "fps_float", "fps_peer"):
        if r.get(k):
            out.append(f"  {k:10} 1 thread {r[k]['1']:8.1f}   2 threads {r[k]['2']:8.1f}")
    if "ratio_vs_peer" in r:
        out.append(f"  int8 / fer fps (2 threads): {r['ratio_vs_peer']}x")
    if r.get("int8_vs_float_latency") is not None:
        out.append(f"  int8 / float latency (2 threads, both without the mesh): "
                   f"{r['int8_vs_float_latency']}")
    if "float_missing" in r:
        out.append(f"  float twins not measured: {r['float_missing']}")
    if "fps_int8_by_action_units" in r:
        a = r["fps_int8_by_action_units"]
        out.append(f"  int8 fps (2 threads) without / with action units: {a['off']} / {a['on']}")
    if "fps_int8_by_tiles" in r:
        t = r["fps_int8_by_tiles"]
        out.append(f"  int8 fps (2 threads) by face.tiles: 0 (never) {t['0']}, 1 (auto) "
                   f"{t['1']}, 2 (always) {t['2']}")
    if "fps_int8_by_expression" in r:
        e = r["fps_int8_by_expression"]
        out.append(f"  int8 fps (2 threads) by face.expression: single {e['single']}, "
                   f"ensemble {e['ensemble']}")
    if "fps_int8_by_expression_every" in r:
        per = ", ".join(f"{n}: {v}" for n, v in r["fps_int8_by_expression_every"].items())
        out.append(f"  int8 fps (2 threads) by face.expression_every: {per}")
    for clip, shares in r.get("label_agreement_by_expression_every", {}).items():
        per = ", ".join(f"{n}: {v:.1%}" for n, v in shares.items())
        out.append(f"  frames whose labels match reading every frame, {clip}: {per}")
    out.append(f"  frames with a face: {r['frames_with_face']}")
    out.append(f"  vision path peak RSS: {r['rss_mb']} MB")
    return out


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
