"""The daemon on Python 3.10, the Jetson's (JetPack 6): a venv of that interpreter from
requirements-jetson.lock (its pins resolve for 3.10; x86_64 wheels of the same versions
stand in for aarch64 here), then `affectd models`, `affectd check` and `affectd run` on an
audio file and the synthetic wearer against Mosquitto. Skipped when no python3.10 is
installed (ruff and mypy --python-version 3.10 in script/test check the code regardless)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.lab.broker import MosquittoBroker
from tests.conftest import Recorder, write_config

ROOT = Path(__file__).resolve().parents[2]


def python310() -> str | None:
    """A working python3.10 (a pyenv shim on PATH may name one that is not installed)."""
    pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10.*/bin/python3.10")))
    for py in [*pyenv, shutil.which("python3.10")]:
        if py and subprocess.run([py, "-c", "import venv"], capture_output=True,
                                 timeout=30).returncode == 0:
            return py
    return None


@pytest.fixture(scope="module")
def venv310(tmp_path_factory: pytest.TempPathFactory) -> Path:
    py = python310()
    if py is None:
        pytest.skip("no python3.10 on this machine")
    uv = shutil.which("uv") or str(ROOT / ".venv" / "bin" / "uv")
    venv = tmp_path_factory.mktemp("py310") / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    subprocess.run([py, "-m", "venv", str(venv)], check=True, timeout=120)
    for args in (["-r", str(ROOT / "requirements-jetson.lock"), "--require-hashes"],
                 ["--no-deps", "-e", str(ROOT)]):
        res = subprocess.run([uv, "pip", "install", "--python", str(venv / "bin" / "python"),
                              *args], capture_output=True, text=True, timeout=600, env=env)
        assert res.returncode == 0, res.stderr[-2000:]
    return venv


def test_daemon_runs_on_python_310(venv310: Path, tmp_path: Path) -> None:
    if not MosquittoBroker.available():
        pytest.skip("mosquitto is not installed (script/test installs it)")
    exe = str(venv310 / "bin" / "affectd")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    version = subprocess.run([str(venv310 / "bin" / "python"), "-c",
                              "import sys, tomli; print(sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert version.stdout.strip() == "(3, 10)", version.stderr
    models = subprocess.run([exe, "models"], capture_output=True, text=True, timeout=120,
                            env=env, cwd=tmp_path)
    assert models.returncode == 0 and models.stdout.count(" ok\n") == 11, models.stdout
    with MosquittoBroker() as broker:
        rec = Recorder(broker.port)
        try:
            cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "state",
                               microphone={"enabled": True, "backend": "file",
                                           "path": str(ROOT / "edge/assets/demo_speech.flac")})
            check = subprocess.run([exe, "check", "--config", str(cfg)], capture_output=True,
                                   text=True, timeout=120, env=env, cwd=tmp_path)
            assert check.returncode == 0, check.stderr
            run = subprocess.run([exe, "run", "--config", str(cfg), "--seconds", "10"],
                                 capture_output=True, text=True, timeout=120, env=env,
                                 cwd=tmp_path)
            assert run.returncode == 0, run.stderr[-2000:]
            states = [m.json() for m in rec.on("affectd/test/state")]
        finally:
            rec.close()
    assert len(states) >= 10
    assert any(s["modalities"]["voice"]["present"] for s in states)
    assert any(s["modalities"]["physio"]["present"] for s in states)
