"""`affectd outputs`: every shipped model run on fixed inputs, its raw outputs digested.

The inputs come from a seeded generator over each model's own input tensors (the
full int8/uint8 range for quantized inputs), so two machines given the same seed
feed the models the same bytes; the sha256 of the raw output tensors then says
whether their kernels agree bit for bit. `script/test-arm64` compares x86 with
an emulated Raspberry Pi (cortex-a72, cortex-a76) this way, on LiteRT's default
XNNPACK path with the daemon's thread count. The stress models (boosted trees in
JSON) are compared on their float64 probabilities, the action units on their
intensities, the speech gate on its speech probabilities and the prosody head on its
probabilities (the last three to 1e-9), each on seeded inputs around its own
population statistics. A model of a kind this command does not know is an error, not
a skipped row.
"""

from __future__ import annotations

import hashlib
import platform
from typing import Any

import numpy as np

from edge.inference import interpreter_class
from edge.physio.stress_model import MODEL_ID, StressModel, model_input_names
from edge.registry import Registry

BATCHES = 4


def _tensor(rng: np.random.Generator, detail: dict[str, Any]) -> np.ndarray:
    shape, dtype = tuple(int(s) for s in detail["shape"]), np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


def tflite_outputs(path: Any, seed: int, threads: int) -> dict[str, Any]:
    interpreter, _ = interpreter_class()
    it = interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    rng = np.random.default_rng(seed)
    digest, first = hashlib.sha256(), []
    for _ in range(BATCHES):
        for d in it.get_input_details():
            it.set_tensor(d["index"], _tensor(rng, d))
        it.invoke()
        for d in it.get_output_details():
            out = np.ascontiguousarray(it.get_tensor(d["index"]))
            digest.update(out.tobytes())
            first.append(out.reshape(-1)[:4].tolist())
    return {"sha256": digest.hexdigest(), "batches": BATCHES, "first": first[0]}


def stress_outputs(seed: int, model_id: str = MODEL_ID) -> dict[str, Any]:
    model = StressModel.from_registry(model_id=model_id)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, len(model_input_names(model.features))))
    p = np.array([model.probability(row) for row in x], dtype=np.float64)
    return {"sha256": hashlib.sha256(p.tobytes()).hexdigest(), "batches": len(x),
            "first": p[:4].tolist()}


def action_unit_outputs(path: Any, seed: int) -> dict[str, Any]:
    """The action units' intensities for seeded measures around the neutral face."""
    from edge.face.action_units import MEASURES, Population, intensities

    pop = Population.load(path)
    rng = np.random.default_rng(seed)
    x = pop.mean + 2.0 * pop.sd * rng.standard_normal((64, len(MEASURES)))
    p = np.array([list(intensities(row, pop.mean, pop).values()) for row in x], np.float64)
    # rounded to 1e-9: numpy's vectorised exp may differ in the last bits between x86's
    # AVX-512 and Arm's NEON code paths; a real difference is far larger
    p = np.round(p, 9)
    return {"sha256": hashlib.sha256(p.tobytes()).hexdigest(), "batches": len(x),
            "first": p[0, :4].tolist()}


def _rounded_digest(p: np.ndarray) -> dict[str, Any]:
    """Digest of float64 outputs rounded to 1e-9: numpy's and libm's exp may differ in the
    last bits between x86 and Arm code paths; a real difference is far larger."""
    p = np.round(np.asarray(p, np.float64), 9)
    return {"sha256": hashlib.sha256(p.tobytes()).hexdigest(), "batches": len(p),
            "first": p.ravel()[:4].tolist()}


def speech_gate_outputs(path: Any, seed: int) -> dict[str, Any]:
    """The speech gate's probabilities for seeded features around its training mean."""
    from edge.voice.speechness import SpeechGate

    gate = SpeechGate.from_json(path.read_text("utf-8"))
    rng = np.random.default_rng(seed)
    x = gate.mean + 2.0 * gate.scale * rng.standard_normal((64, gate.mean.size))
    return _rounded_digest(np.array([gate.probability_of(row) for row in x]))


def prosody_outputs(path: Any, seed: int) -> dict[str, Any]:
    """The prosody head's label probabilities for seeded room-relative features."""
    from edge.voice.prosody import ProsodyHead

    head = ProsodyHead.from_json(path.read_text("utf-8"))
    rng = np.random.default_rng(seed)
    x = head.mean + 2.0 * head.scale * rng.standard_normal((64, head.mean.size))
    return _rounded_digest(np.exp(np.array([head.log_probs(row) for row in x])))


def model_outputs(seed: int = 0, threads: int = 2) -> dict[str, Any]:
    reg = Registry()
    if not reg.entries:
        raise SystemExit("affectd outputs: the registry lists no model")
    models: dict[str, Any] = {}
    for mid in sorted(reg.entries):
        path, task = reg.verify(mid), reg.get(mid).task
        if path.suffix == ".tflite":
            models[mid] = tflite_outputs(path, seed, threads)
        elif task == "action_units":
            models[mid] = action_unit_outputs(path, seed)
        elif task == "speech_gate":
            models[mid] = speech_gate_outputs(path, seed)
        elif task == "speech_prosody":
            models[mid] = prosody_outputs(path, seed)
        elif task == "stress_trees":
            models[mid] = stress_outputs(seed, mid)
        else:
            raise SystemExit(f"affectd outputs: {mid}: no fixed-input run for task {task!r}")
    return {"machine": platform.machine(), "runtime": interpreter_class()[1],
            "seed": seed, "threads": threads, "models": models}


def outputs_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"{result['machine']} {result['runtime']} seed={result['seed']} "
             f"threads={result['threads']}"]
    lines += [f"{mid:<20} {row['sha256']}" for mid, row in result["models"].items()]
    return lines
