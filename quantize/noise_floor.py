"""`python -m quantize noise-floor RECIPE`: how stable a face detector's own float
model is, as the yardstick for its int8 parity.

A detector's parity report counts the held-out frames on which the int8 model finds
as many faces as the float one (`same_face_count`). Many frames hold a face whose
score sits near the threshold, so the float model itself changes its count when the
input moves by less than a camera's noise. This command runs the recipe's float
source (the file the build starts from) on the recipe's own evaluation frames, once
as they are and once with uniform noise of +-`level` grey levels added per pixel
(one fixed seed per level), and reports the share of frames whose face count stays
the same next to the int8 figure from the committed parity report. An int8 build
cannot be expected to agree with the float model more often than the float model
agrees with itself under that noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edge.face.detector import FaceDetector
from edge.inference import TFLiteModel
from quantize.datasets import DATASETS
from quantize.recipe import REPO, Recipe

LEVELS = (0.5, 1.0, 2.0)
"""Noise amplitudes in grey levels (of 255): half a level to two."""


def noise_floor(recipe: Recipe, levels: tuple[float, ...] = LEVELS,
                samples: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Face-count agreement of the float source with itself under each noise level."""
    if recipe.task != "face_detection":
        raise SystemExit(f"quantize noise-floor: {recipe.id} is a {recipe.task} recipe; "
                         "only face_detection recipes have a face count")
    source = recipe.source_path
    if source.suffix != ".tflite":
        raise SystemExit(f"quantize noise-floor: {recipe.id}'s source {source} is not a "
                         ".tflite file")
    model = TFLiteModel(source, 2)
    detector = FaceDetector(model, recipe.id)
    ev = recipe.evaluation
    frames, _ = DATASETS[ev.dataset](ev.split, samples or ev.samples, detector.spec.size)
    if not frames:
        raise SystemExit(f"quantize noise-floor: no evaluation frames for {recipe.id}")

    def count(x: Any) -> int:
        return len(detector.faces_in_input(model.run(x)))

    base = np.array([count(x) for x in frames])
    same: dict[str, float] = {}
    for level in levels:
        rng = np.random.default_rng(seed)
        step = level / 127.5  # inputs are grey levels mapped onto [-1, 1]
        counts = np.array([count((x + rng.uniform(-step, step, x.shape)).astype(np.float32))
                           for x in frames])
        same[str(level)] = round(float(np.mean(counts == base)), 4)
    report_path = REPO / "models" / "reports" / f"{recipe.id}.parity.json"
    int8 = (json.loads(report_path.read_text())["task"].get("same_face_count")
            if report_path.exists() else None)
    return {"id": recipe.id, "source": str(source.name), "frames": len(frames),
            "faces_per_frame": np.bincount(base).tolist(),
            "float_same_face_count_under_noise": same,
            "int8_same_face_count": int8}


def lines(result: dict[str, Any]) -> list[str]:
    """The text form (`--json` prints the result itself)."""
    out = [f"{result['id']}: float source {result['source']}, {result['frames']} held-out "
           f"frames (faces per frame: {result['faces_per_frame']})"]
    for level, share in result["float_same_face_count_under_noise"].items():
        out.append(f"  float vs itself with +-{level} grey levels of noise: same face count "
                   f"on {share:.1%} of frames")
    if result["int8_same_face_count"] is not None:
        out.append(f"  int8 vs float (committed parity report): "
                   f"{result['int8_same_face_count']:.1%}")
    return out


def main_noise_floor(paths: list[Path], as_json: bool, samples: int | None) -> int:
    from quantize.recipe import load_recipe

    for path in paths:
        result = noise_floor(load_recipe(path), samples=samples)
        print(json.dumps(result) if as_json else "\n".join(lines(result)), flush=True)
    return 0
