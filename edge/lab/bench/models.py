"""`affectd bench ...`: speed and memory measured side by side in one process.

`bench models` times every registered int8 model against its float twin (the
float TFLite that `python -m quantize build` leaves in the cache) with 1 and 2
threads through the daemon's own runtime wrapper, and reports the ratios.
"""

from __future__ import annotations

from typing import Any

from edge.inference import interpreter_class, time_model
from edge.lab.data import float_model_path
from edge.registry import Registry


def bench_models(runs: int = 100) -> dict[str, Any]:
    reg = Registry()
    out: dict[str, Any] = {"runtime": interpreter_class()[1], "models": {}}
    for mid in sorted(reg.entries):
        path = reg.verify(mid)
        if path.suffix != ".tflite":
            continue  # the stress model is 19 multiply-adds, not an interpreter run
        row: dict[str, Any] = {"int8_ms": {str(t): round(time_model(path, t, runs), 4)
                                           for t in (1, 2)}}
        fpath = float_model_path(mid)
        if fpath.exists():
            # Interleave the two so drift of this shared machine hits both alike.
            row["float_ms"] = {str(t): round(time_model(fpath, t, runs), 4) for t in (1, 2)}
            row["int8_over_float"] = {t: round(row["int8_ms"][t] / row["float_ms"][t], 3)
                                      for t in ("1", "2")}
        else:
            row["float_ms"] = None
            row["note"] = "float twin not built here: run `python -m quantize build` first"
        out["models"][mid] = row
    return out


def models_lines(result: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints the report itself)."""
    out: list[str] = []
    out.append(f"runtime: {result['runtime']}")
    out.append(f"{'model':24} {'int8 1t':>9} {'int8 2t':>9} {'float 1t':>9} {'float 2t':>9} "
          f"{'ratio 2t':>9}")
    for mid, r in result["models"].items():
        f = r["float_ms"] or {"1": float("nan"), "2": float("nan")}
        ratio = r.get("int8_over_float", {}).get("2", float("nan"))
        out.append(f"{mid:24} {r['int8_ms']['1']:9.3f} {r['int8_ms']['2']:9.3f} {f['1']:9.3f} "
              f"{f['2']:9.3f} {ratio:9.3f}")
    return out
