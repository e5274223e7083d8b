"""`affectd bench pipeline` runs the whole daemon with every modality and reports the
JSON contract (the numbers themselves are benchmarks, stated in the README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.lab.broker import MosquittoBroker

ROOT = Path(__file__).resolve().parents[2]


def test_bench_pipeline_contract(shared_data: Path) -> None:
    if not MosquittoBroker.available():
        pytest.skip("mosquitto is not installed")
    pytest.importorskip("bumble")
    res = subprocess.run([sys.executable, "-m", "edge", "bench", "pipeline", "--seconds", "12",
                          "--json"], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"latency_ms", "cpu_percent", "rss_peak_mb", "rss_steady_mb", "frames_analysed",
            "frames_dropped", "cold_start_s"} <= set(r)
    assert set(r["latency_ms"]) == {"face", "voice", "physio"}
    for q in r["latency_ms"].values():
        assert q["p50"] <= q["p95"] <= q["p99"]
    assert r["frames_analysed"] > 50 and r["cold_start_s"] > 0
