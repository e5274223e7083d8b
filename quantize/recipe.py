"""Recipes: one small TOML file per shipped model, enough to rebuild it exactly.

    id = "face_detect_short"        # registry id
    version = "1.0.0"
    task = "face_detection"         # or "classification"
    output = "face_detect_short.tflite"   # written into models/
    labels = []                     # classification labels, in output order
    [source]
    kind = "tflite"                 # "keras", "saved_model", "onnx", "tflite" (rebuilt
                                    # with quantize.graph) or "flip_ensemble" (`paths`:
                                    # its members); see quantize.sources
    path = "shared:models/source/face_detection_short_range.tflite"
    origin = "..."; licence = "Apache-2.0"; attribution = "..."
    training_data = "..."; data_terms = "..."
    [io]
    input_dtype = "int8"            # int8 | uint8 | float32
    output_dtype = "float32"
    [quantize]                      # optional
    weights = "per_channel"         # or "per_tensor" (one scale per weight tensor)
    equalize = false                # cross-layer equalization first (tflite sources)
    prelu_as_max_from = 0           # tflite sources: PRELU on tensors of at least this
                                    # many values rebuilt as max(x, a * x) (0: none)
    [preprocessing]                 # optional, copied to the manifest for the daemon
    speaker_normalisation = false   # speech: online speaker normalisation
    [calibration]
    dataset = "face_frames"; split = "calibration"; samples = 300
    [evaluation]
    dataset = "face_frames"; split = "evaluation"; samples = 200

Paths starting with `shared:` are relative to the shared folder (the parent of
AFFECTD_DATA); others are relative to the repository root.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.lab.data import data_root

REPO = Path(__file__).resolve().parents[1]


SOURCE_KINDS = ("keras", "saved_model", "onnx", "tflite", "flip_ensemble")


@dataclass(frozen=True)
class DataSpec:
    dataset: str
    split: str
    samples: int


@dataclass(frozen=True)
class Recipe:
    path: Path
    id: str
    version: str
    task: str
    output: str
    source: dict[str, Any]
    input_dtype: str
    output_dtype: str
    calibration: DataSpec
    evaluation: DataSpec
    labels: list[str] = field(default_factory=list)
    per_channel: bool = True
    equalize: bool = False
    prelu_as_max_from: int = 0
    preprocessing: dict[str, Any] = field(default_factory=dict)

    @property
    def source_path(self) -> Path:
        return _resolve(str(self.source["path"]))

    @property
    def source_paths(self) -> list[Path]:
        """`paths` (the members of a flip_ensemble source), else the one `path`."""
        if "paths" in self.source:
            return [_resolve(str(p)) for p in self.source["paths"]]
        return [self.source_path]


def _resolve(p: str) -> Path:
    if p.startswith("shared:"):
        return data_root().parent / p.removeprefix("shared:")
    return REPO / p  # an absolute path stays absolute


def load_recipe(path: Path) -> Recipe:
    data = tomllib.loads(Path(path).read_text("utf-8"))
    try:
        io = data.get("io", {})
        if data["source"].get("kind") not in SOURCE_KINDS:
            raise ValueError(f"{path}: source.kind must be one of {', '.join(SOURCE_KINDS)}")
        key = "paths" if data["source"]["kind"] == "flip_ensemble" else "path"
        if key not in data["source"] or (key == "paths" and not data["source"]["paths"]):
            raise ValueError(f"{path}: source.{key} is required for this kind")
        q = data.get("quantize", {})
        unknown = set(q) - {"weights", "equalize", "prelu_as_max_from"}
        if unknown:
            raise ValueError(f"{path}: unknown key quantize.{sorted(unknown)[0]}")
        if q.get("weights", "per_channel") not in ("per_channel", "per_tensor"):
            raise ValueError(f"{path}: quantize.weights must be per_channel or per_tensor")
        return Recipe(
            path=Path(path), id=data["id"], version=data["version"], task=data["task"],
            output=data["output"], source=data["source"], labels=list(data.get("labels", [])),
            input_dtype=io.get("input_dtype", "int8"), output_dtype=io.get("output_dtype",
                                                                           "float32"),
            calibration=DataSpec(**data["calibration"]), evaluation=DataSpec(**data["evaluation"]),
            per_channel=q.get("weights", "per_channel") == "per_channel",
            equalize=bool(q.get("equalize", False)),
            prelu_as_max_from=int(q.get("prelu_as_max_from", 0)),
            preprocessing=dict(data.get("preprocessing", {})),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: bad recipe ({exc})") from None
