"""quantize: a tiny recipe end to end (train, convert to full int8, parity report,
registry entry, card), and a shipped model rebuilt from its recipe matches its
committed parity report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
tf = pytest.importorskip("tensorflow")


def tiny_model(path: Path) -> None:
    from tensorflow import keras

    from quantize.datasets import synthetic_shapes

    x, y = synthetic_shapes("calibration", 600, 32)
    xs = np.concatenate(x)
    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((32, 32, 1), batch_size=1)
    h = L.Rescaling(1 / 127.5, -1.0)(inp)
    h = L.Conv2D(16, 3, strides=2, activation="relu")(h)
    h = L.Conv2D(32, 3, strides=2, activation="relu")(h)
    h = L.Flatten()(h)
    out = L.Dense(3, name="logits")(h)
    model = keras.Model(inp, out)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(xs, np.array(y), epochs=15, batch_size=32, verbose=0)
    model.save(path)


def test_tiny_recipe_end_to_end(tmp_path: Path) -> None:
    from edge.registry import Registry
    from quantize.build import build
    from quantize.cards import write_cards
    from quantize.recipe import load_recipe

    tiny_model(tmp_path / "tiny.keras")
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(f'''
id = "tiny_shapes"
version = "0.1.0"
task = "classification"
output = "tiny_shapes.tflite"
labels = ["disc", "square", "triangle"]
[source]
kind = "keras"
path = "{tmp_path / 'tiny.keras'}"
licence = "Apache-2.0"
origin = "trained in the test"
[io]
input_dtype = "int8"
output_dtype = "float32"
[calibration]
dataset = "synthetic_shapes"
split = "calibration"
samples = 90
[evaluation]
dataset = "synthetic_shapes"
split = "evaluation"
samples = 150
''')
    models = tmp_path / "models"
    report = build(load_recipe(recipe), models, timing_runs=10)
    assert report["task"]["float"] > 0.8, report["task"]
    assert abs(report["task"]["int8"] - report["task"]["float"]) <= 0.03
    assert report["size_bytes"]["int8"] < report["size_bytes"]["float"]
    assert set(report["latency_ms"]) == {"float", "int8"}
    saved = json.loads((models / "reports" / "tiny_shapes.parity.json").read_text())
    assert saved["task"] == report["task"]
    reg = Registry(models)
    m = reg.load("tiny_shapes")
    assert m.inputs[0].dtype == "int8"
    from ai_edge_litert import schema_py_generated as schema

    flat = schema.ModelT.InitFromPackedBuf((models / "tiny_shapes.tflite").read_bytes(), 0)
    types = {t.type for t in flat.subgraphs[0].tensors
             if t.buffer and flat.buffers[t.buffer].data is not None}
    assert schema.TensorType.FLOAT32 not in types, "weights must all be integer"
    cards = write_cards(models)
    text = cards[0].read_text()
    assert "Confusion matrix" in text and "tiny_shapes" in text


def test_shipped_detector_reproduces_its_report(shared_data: Path, tmp_path: Path) -> None:
    from quantize.build import build, compare_reports
    from quantize.recipe import load_recipe

    recipe = load_recipe(ROOT / "models" / "recipes" / "face_detect_short.toml")
    os.environ.setdefault("AFFECTD_DATA", str(shared_data))
    report = build(recipe, tmp_path / "models", timing_runs=10)
    committed = json.loads((ROOT / "models" / "reports" / "face_detect_short.parity.json")
                           .read_text())
    assert compare_reports(report, committed) == []
