"""The wheel runs anywhere: built from the checkout, installed into a fresh virtual
environment with the runtime dependencies only, run from a folder outside the checkout.

It lists and verifies every shipped model (package data found with importlib.resources)
and runs the daemon on a video and an audio file against a real broker; the run's
`-X importtime` lists no module of the lab or training wings, nor their libraries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.lab.broker import MosquittoBroker
from tests.conftest import ROOT, Recorder, write_config

HEAVY = ("scipy", "sklearn", "tensorflow", "keras", "matplotlib", "neurokit2", "librosa",
         "amqtt", "bumble", "quantize")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding the affectd wheel and its runtime dependencies."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    run = {"capture_output": True, "text": True, "timeout": 600}
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)], **run)
    assert res.returncode == 0, res.stderr[-3000:]
    wheels = list(dist.glob("affectd-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    res = subprocess.run([sys.executable, "-m", "venv", str(venv)], **run)
    assert res.returncode == 0, res.stderr[-3000:]
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                          str(wheels[0])], **run)
    assert res.returncode == 0, res.stderr[-3000:]
    return venv


def clean_env() -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH into the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_installed_wheel_holds_no_dev_train_or_lab_dependency(installed: Path) -> None:
    res = subprocess.run([str(installed / "bin" / "python"), "-m", "pip", "list",
                          "--format=json"], capture_output=True, text=True, timeout=120)
    names = {p["name"].lower() for p in json.loads(res.stdout)}
    assert "affectd" in names
    for lib in ("scipy", "scikit-learn", "tensorflow", "tensorflow-cpu", "matplotlib",
                "neurokit2", "librosa", "amqtt", "bumble", "pytest"):
        assert lib not in names, lib


def test_models_from_the_wheel_are_listed_and_verified(installed: Path, tmp_path: Path) -> None:
    res = subprocess.run([str(installed / "bin" / "affectd"), "models", "--json"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env=clean_env())
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads(res.stdout)
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    assert {r["id"] for r in rows} == {m["id"] for m in manifest["models"]}
    assert len(rows) == 11 and all(r["status"] == "ok" for r in rows), rows
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import edge, models; print(edge.__file__); print(models.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env=clean_env())
    for line in where.stdout.split():
        assert Path(line).is_relative_to(installed), line  # not the checkout


def test_daemon_from_the_wheel_runs_on_files_and_imports_no_lab(
        installed: Path, tmp_path: Path, shared_data: Path) -> None:
    if not MosquittoBroker.available():
        pytest.skip("mosquitto is not installed (script/test installs it)")
    video = shared_data / "video" / "WolfgangLanger_Pexels.mp4"
    audio = ROOT / "edge" / "assets" / "demo_speech.flac"
    with MosquittoBroker() as broker:
        rec = Recorder(broker.port)
        try:
            cfg = write_config(tmp_path / "affectd.toml", broker.port, tmp_path / "state",
                               physio={"enabled": False},
                               camera={"enabled": True, "backend": "file", "path": str(video)},
                               microphone={"enabled": True, "backend": "file",
                                           "path": str(audio)})
            res = subprocess.run([str(installed / "bin" / "python"), "-X", "importtime", "-m",
                                  "edge", "run", "--config", str(cfg), "--seconds", "12"],
                                 capture_output=True, text=True, timeout=180, cwd=tmp_path,
                                 env=clean_env())
            assert res.returncode == 0, res.stderr[-3000:]
            states = [m.json() for m in rec.on("affectd/test/state")]
        finally:
            rec.close()
    assert len(states) >= 10, len(states)
    assert states[-1]["modalities"]["face"]["present"], states[-1]
    # an utterance's estimate counts 3 s after it ([fusion.voice] max_age_s): the voice
    # comes and goes with the demo's sentences
    assert any(s["modalities"]["voice"]["present"] for s in states)
    assert any(s["emotion"] is not None for s in states)
    imported = [line.split("|")[-1].strip() for line in res.stderr.splitlines()
                if line.startswith("import time:") and "|" in line]
    assert "edge.daemon" in imported and "edge.face.analyzer" in imported
    wings = [m for m in imported if m.startswith(("edge.lab", "models.training"))
             or m.split(".")[0] in HEAVY]
    assert wings == [], wings
