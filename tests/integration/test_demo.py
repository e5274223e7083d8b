"""`affectd demo` prints the broker's traffic as TOPIC PAYLOAD lines, like mosquitto_sub -v."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.lab.broker import MosquittoBroker
from edge.publish.gate import PayloadGate

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_availability_discovery_and_valid_states(tmp_path: Path) -> None:
    if not MosquittoBroker.available():
        pytest.skip("mosquitto is not installed (script/test installs it)")
    res = subprocess.run([sys.executable, "-m", "edge", "demo", "--seconds", "20"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/usr/sbin"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "affectd/demo/availability online" in lines
    assert any(ln.startswith("homeassistant/device/affectd_demo/config {") for ln in lines)
    gate = PayloadGate()
    states = [json.loads(ln.split(" ", 1)[1]) for ln in lines
              if ln.startswith("affectd/demo/state ")]
    assert len(states) >= 15
    for s in states:
        gate.check("state", s)
    # the generated wearer is measured: heart rate appears, and after calibration, stress
    assert any("hr_bpm" in s.get("metrics", {}) for s in states)
    assert any(s["stress"] is not None for s in states)
    # the synthesized speech reaches the voice analyzer: emotion probabilities appear
    assert any(s["modalities"]["voice"]["present"] and s["probs"] for s in states)
    assert lines[-1] == "affectd/demo/availability offline"
    assert list(tmp_path.iterdir()) == []
