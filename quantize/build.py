"""`quantize build RECIPE`: rebuild a shipped model, measure parity, update the registry.

Steps: load the float source (Keras, SavedModel, ONNX through onnx2tf, or a float
.tflite rebuilt in Keras; see `quantize.sources`),
convert it to float and full-int8 TFLite, evaluate both through the daemon's
own runtime wrapper on the recipe's held-out data, and write
`models/<output>`, `models/reports/<id>.parity.{json,md}` and the manifest entry.
`--check` rebuilds into a temporary folder and compares with the committed
report instead (see `compare_reports` for the tolerances).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge.inference import TFLiteModel, time_model
from edge.lab.data import float_model_path
from edge.registry import ModelEntry, Registry, sha256_file
from quantize.convert import to_float_tflite, to_int8_tflite
from quantize.datasets import DATASETS
from quantize.recipe import REPO, Recipe
from quantize.sources import input_size, load_source

ACCURACY_TOLERANCE = 0.005
"""A rebuilt model's task metrics may differ from the committed report by this much."""
DIFF_TOLERANCE = 0.25
"""... and its mean output difference by this fraction (calibration is deterministic;
the slack covers float summation order across machines)."""


def _progress(items: list[Any], desc: str) -> Any:
    try:
        from tqdm import tqdm

        return tqdm(items, desc=desc, leave=False)
    except ImportError:
        return items


def class_logits(recipe: Recipe, out: Any) -> Any:
    """The class scores of a classification output: one block of logits per input
    channel's network, weighed by `preprocessing.channel_weights`, as the daemon does
    (`edge.voice.analyzer.SpeechEmotionModel`); a plain output as it is."""
    z = np.asarray(out, np.float64).reshape(-1)
    weights = recipe.preprocessing.get("channel_weights")
    if not weights:
        return z
    return np.asarray(weights, np.float64) @ z.reshape(len(weights), -1)


def evaluate(recipe: Recipe, float_path: Path, int8_path: Path,
             inputs: list[Any], labels: list[int] | None) -> dict[str, Any]:
    f, q = TFLiteModel(float_path, 2), TFLiteModel(int8_path, 2)
    n_out = len(f.outputs)
    max_d, sum_d, rng_max = [0.0] * n_out, [0.0] * n_out, [0.0] * n_out
    count = [0] * n_out
    pred_f, pred_q, agree, same_count, ious = [], [], [], [], []
    lm_err: list[float] = []
    presence: list[float] = []
    if recipe.task == "face_detection":
        from edge.face.detector import FaceDetector, iou_matrix

        dec_f, dec_q = FaceDetector(f, recipe.id), FaceDetector(q, recipe.id)
    for x in _progress(inputs, f"evaluating {recipe.id}"):
        yf, yq = f.run(x), q.run(x)
        for i, (a, b) in enumerate(zip(yf, yq, strict=True)):
            d = np.abs(a - b)
            max_d[i] = max(max_d[i], float(d.max()))
            sum_d[i] += float(d.sum())
            count[i] += d.size
            rng_max[i] = max(rng_max[i], float(np.abs(a).max()))
        if recipe.task == "face_landmarks":
            lm_err.append(landmark_error(yf, yq))
            pf, pq = (min(y, key=np.size).ravel()[0] for y in (yf, yq))
            presence.append(float((pf > 0) == (pq > 0)))
        elif recipe.task == "classification":
            pred_f.append(int(np.argmax(class_logits(recipe, yf[0]))))
            pred_q.append(int(np.argmax(class_logits(recipe, yq[0]))))
        else:  # detection: decoded faces of the float and int8 models, matched by IoU
            df, dq = dec_f.faces_in_input(yf), dec_q.faces_in_input(yq)
            same_count.append(float(len(df) == len(dq)))
            if df and dq:
                m = iou_matrix(np.array([d.box for d in df], np.float32),
                               np.array([d.box for d in dq], np.float32))
                ious += m.max(1).tolist()
            sf, sq = dec_f.score_logits(yf), dec_q.score_logits(yq)
            agree.append(float(np.mean((sf > 0) == (sq > 0))))
    report: dict[str, Any] = {
        "n_eval": len(inputs),
        "outputs": [{"name": f.outputs[i].name, "max_abs_diff": round(max_d[i], 5),
                     "mean_abs_diff": round(sum_d[i] / max(1, count[i]), 6),
                     "float_abs_max": round(rng_max[i], 4)} for i in range(n_out)],
    }
    if recipe.task == "classification" and labels is not None:
        y = np.array(labels)
        k = len(recipe.labels)
        conf = np.zeros((k, k), int)
        for t, p in zip(y, pred_q, strict=True):
            conf[t, p] += 1
        recall = conf.diagonal() / np.maximum(1, conf.sum(1))
        report["task"] = {
            "metric": "accuracy",
            "float": round(float(np.mean(np.array(pred_f) == y)), 4),
            "int8": round(float(np.mean(np.array(pred_q) == y)), 4),
            "int8_uar": round(float(recall.mean()), 4),
            "int8_per_class_recall": {lab: round(float(r), 4)
                                      for lab, r in zip(recipe.labels, recall, strict=True)},
            "int8_confusion": conf.tolist(),
        }
    elif recipe.task == "face_landmarks":
        e = np.array(lm_err)
        report["task"] = {"metric": "landmark_agreement",
                          "mean_error_iod": round(float(e.mean()), 5),
                          "p95_error_iod": round(float(np.percentile(e, 95)), 5),
                          "presence_agreement": round(float(np.mean(presence)), 4)}
    elif recipe.task != "classification":
        report["task"] = {"metric": "detection_agreement",
                          "same_face_count": round(float(np.mean(same_count)), 4),
                          "matched_box_iou": round(float(np.mean(ious)) if ious else 0.0, 4),
                          "anchor_decisions": round(float(np.mean(agree)), 5)}
    return report


def landmark_error(yf: list[Any], yq: list[Any]) -> float:
    """Mean distance between the float and int8 meshes' 468 (x, y) points, in units
    of the float mesh's distance between the eyes (as `edge.face.action_units` reads it)."""
    from edge.face.action_units import eye_distance

    pf = np.asarray(max(yf, key=np.size), np.float64).reshape(-1, 3)[:, :2]
    pq = np.asarray(max(yq, key=np.size), np.float64).reshape(-1, 3)[:, :2]
    return float(np.linalg.norm(pf - pq, axis=1).mean() / eye_distance(pf))


def build(recipe: Recipe, models_dir: Path | None = None, timing_runs: int = 100) -> dict[str, Any]:
    models_dir = models_dir or REPO / "models"
    (models_dir / "reports").mkdir(parents=True, exist_ok=True)
    model = load_source(recipe)
    size = input_size(model)
    cal_x, _ = DATASETS[recipe.calibration.dataset](recipe.calibration.split,
                                                    recipe.calibration.samples, size)
    ev_x, ev_y = DATASETS[recipe.evaluation.dataset](recipe.evaluation.split,
                                                     recipe.evaluation.samples, size)
    int8_path = models_dir / recipe.output
    int8_path.write_bytes(to_int8_tflite(model, cal_x, recipe.input_dtype, recipe.output_dtype,
                                         per_channel=recipe.per_channel))
    with tempfile.TemporaryDirectory() as tmp:
        float_path = Path(tmp) / "float.tflite"
        float_path.write_bytes(to_float_tflite(model))
        shutil.copy(float_path, float_model_path(recipe.id))  # for `affectd bench models`
        report = {"id": recipe.id, "version": recipe.version,
                  "recipe": str(recipe.path.relative_to(REPO)) if recipe.path.is_relative_to(REPO)
                  else str(recipe.path), "n_calibration": len(cal_x)}
        report.update(evaluate(recipe, float_path, int8_path, ev_x, ev_y))
        fb, qb = float_path.stat().st_size, int8_path.stat().st_size
        report["size_bytes"] = {"float": fb, "int8": qb, "int8_over_float": round(qb / fb, 4)}
        lat = {kind: {str(t): round(time_model(p, t, runs=timing_runs), 4) for t in (1, 2)}
               for kind, p in (("float", float_path), ("int8", int8_path))}
        report["latency_ms"] = lat
        report["int8_over_float_latency_2_threads"] = round(lat["int8"]["2"] / lat["float"]["2"],
                                                            4)
    rep_json = models_dir / "reports" / f"{recipe.id}.parity.json"
    rep_json.write_text(json.dumps(report, indent=2) + "\n")
    (models_dir / "reports" / f"{recipe.id}.parity.md").write_text(report_markdown(report))
    register(recipe, int8_path, report, models_dir)
    return report


def register(recipe: Recipe, path: Path, report: dict[str, Any], models_dir: Path) -> None:
    reg = Registry(models_dir, create=True)
    m = TFLiteModel(path, 1)
    spec = [lambda i: {"name": i.name, "shape": list(i.shape), "dtype": i.dtype,
                       "scale": i.scale, "zero_point": i.zero_point}][0]
    metrics: dict[str, Any] = {"size_bytes": report["size_bytes"]["int8"]}
    if "task" in report:
        metrics.update({k: v for k, v in report["task"].items()
                        if isinstance(v, int | float)})
    src = recipe.source
    reg.put(ModelEntry(
        id=recipe.id, version=recipe.version, file=recipe.output, sha256=sha256_file(path),
        task=recipe.task, inputs=[spec(i) for i in m.inputs], outputs=[spec(o) for o in m.outputs],
        source={k: src[k] for k in ("kind", "path", "paths", "origin", "attribution") if k in src},
        licence=src.get("licence", ""), labels=recipe.labels,
        training_data=src.get("training_data", ""), data_terms=src.get("data_terms", ""),
        metrics=metrics, parity_report=f"reports/{recipe.id}.parity.json",
        recipe=report["recipe"], preprocessing=recipe.preprocessing))
    reg.save()


def report_markdown(r: dict[str, Any]) -> str:
    lines = [f"# Parity report: {r['id']} {r['version']}", "",
             f"Recipe `{r['recipe']}`; {r['n_calibration']} calibration inputs, "
             f"{r['n_eval']} held-out evaluation inputs.", "",
             "| output | max abs diff | mean abs diff | float max abs |", "|---|---|---|---|"]
    lines += [f"| {o['name']} | {o['max_abs_diff']} | {o['mean_abs_diff']} | "
              f"{o['float_abs_max']} |" for o in r["outputs"]]
    t = r.get("task", {})
    if t.get("metric") == "accuracy":
        lines += ["", f"Accuracy: float {t['float']:.4f}, int8 {t['int8']:.4f} "
                  f"(int8 unweighted mean recall {t['int8_uar']:.4f})."]
    elif t.get("metric") == "landmark_agreement":
        lines += ["", f"Landmarks: the int8 mesh's 468 points lie on average "
                  f"{t['mean_error_iod']:.2%} of the distance between the eyes from the float "
                  f"mesh's (95th percentile {t['p95_error_iod']:.2%}); face-presence decisions "
                  f"agree on {t['presence_agreement']:.2%} of inputs."]
    elif t:
        lines += ["", f"Decoded faces: the int8 model finds as many faces as the float model on "
                  f"{t['same_face_count']:.1%} of inputs; matched boxes overlap with mean IoU "
                  f"{t['matched_box_iou']:.3f}; per-anchor face/no-face decisions agree on "
                  f"{t['anchor_decisions']:.2%} of anchors."]
    s, lat = r["size_bytes"], r["latency_ms"]
    lines += ["", f"Size: float {s['float']} B, int8 {s['int8']} B "
              f"({s['int8_over_float']:.2f}x).", "",
              "| latency (ms, median) | 1 thread | 2 threads |", "|---|---|---|",
              f"| float | {lat['float']['1']} | {lat['float']['2']} |",
              f"| int8 | {lat['int8']['1']} | {lat['int8']['2']} |", "",
              f"int8 / float latency with 2 threads: {r['int8_over_float_latency_2_threads']}.",
              ""]
    return "\n".join(lines)


def compare_reports(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    """Differences beyond the documented tolerances (empty list: reproduced)."""
    problems = []
    for a, b in zip(new["outputs"], old["outputs"], strict=True):
        ref = max(b["mean_abs_diff"], 1e-4)
        if abs(a["mean_abs_diff"] - b["mean_abs_diff"]) > DIFF_TOLERANCE * ref:
            problems.append(f"{a['name']}: mean abs diff {a['mean_abs_diff']} vs "
                            f"{b['mean_abs_diff']}")
    for key in ("float", "int8", "same_face_count", "matched_box_iou", "mean_error_iod",
                "presence_agreement"):
        if key in old.get("task", {}) and \
                abs(new["task"][key] - old["task"][key]) > ACCURACY_TOLERANCE:
            problems.append(f"task {key}: {new['task'][key]} vs {old['task'][key]}")
    if abs(new["size_bytes"]["int8"] - old["size_bytes"]["int8"]) > 0.01 * old["size_bytes"][
            "int8"]:
        problems.append(f"int8 size {new['size_bytes']['int8']} vs {old['size_bytes']['int8']}")
    return problems
