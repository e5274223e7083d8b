"""The model registry: checksums enforced, tampering refused by name, listing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.registry import ModelError, Registry, default_models_dir

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_model_verifies_and_runs() -> None:
    reg = Registry()
    assert reg.entries, "models/manifest.json lists no model"
    for mid, entry in reg.entries.items():
        if entry.file.endswith(".json"):  # the physiology stress model (JSON weights)
            from edge.physio.stress_model import MODEL_INPUTS, StressModel

            m = StressModel.from_registry()
            assert entry.inputs[0]["shape"] == [1, len(MODEL_INPUTS)]
            assert 0.0 < m.probability(np.zeros(len(MODEL_INPUTS))) < 1.0
            assert (default_models_dir() / entry.parity_report).exists()
            continue
        model = reg.load(mid, threads=1)
        assert [list(i.shape) for i in model.inputs] == [i["shape"] for i in entry.inputs]
        assert model.inputs[0].dtype == "int8", "shipped models are full int8"
        x = np.zeros(model.inputs[0].shape, np.float32)
        outs = model.run(x)
        assert [list(o.shape) for o in outs] == [o["shape"] for o in entry.outputs]
        assert (default_models_dir() / entry.parity_report).exists()
        assert entry.licence and entry.source


def tampered_copy(tmp_path: Path) -> tuple[Path, str]:
    models = tmp_path / "models"
    shutil.copytree(default_models_dir(), models, ignore=shutil.ignore_patterns("training"))
    entry = next(iter(Registry(models).entries.values()))
    target = models / entry.file
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    target.write_bytes(bytes(data))
    return models, entry.id


def test_flipped_byte_is_refused_naming_the_file(tmp_path: Path) -> None:
    models, mid = tampered_copy(tmp_path)
    reg = Registry(models)
    with pytest.raises(ModelError) as err:
        reg.load(mid)
    assert str(models / reg.get(mid).file) in str(err.value)
    assert "does not match the manifest" in str(err.value)


def test_check_and_models_commands_refuse_a_tampered_file(tmp_path: Path) -> None:
    models, mid = tampered_copy(tmp_path)
    # The commands use the registry next to the package: run them from a copy of the tree.
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "edge", tree / "edge")
    shutil.copytree(models, tree / "models")
    cfg = tmp_path / "a.toml"
    cfg.write_text(f"[device]\nstate_dir = '{tmp_path / 'state'}'\n")
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "edge", "check", "--config", str(cfg)],
                         capture_output=True, text=True, env=env, cwd=tree, timeout=60)
    assert res.returncode == 65
    entry = Registry(models).get(mid)
    assert f"{tree / 'models' / entry.file}: sha256" in res.stderr
    # the daemon refuses it too when its analyzer needs that model
    from edge.face.analyzer import DETECTOR_IDS, EXPRESSION_ID

    if mid in (*DETECTOR_IDS.values(), EXPRESSION_ID):
        video = tmp_path / "still.png"
        import cv2
        import numpy as np

        cv2.imwrite(str(video), np.zeros((64, 64, 3), np.uint8))
        detector = next(k for k, v in DETECTOR_IDS.items() if v == mid) \
            if mid in DETECTOR_IDS.values() else "short"
        run_cfg = tmp_path / "run.toml"
        run_cfg.write_text(f"[device]\nstate_dir = '{tmp_path / 'state'}'\n[mqtt]\nport = 1\n"
                           f"[camera]\nenabled = true\nbackend = 'file'\npath = '{video}'\n"
                           f"[face]\ndetector = '{detector}'\n")
        res = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(run_cfg)],
                             capture_output=True, text=True, env=env, cwd=tree, timeout=60)
        assert res.returncode == 65, res.stderr
        assert f"{tree / 'models' / entry.file}: sha256" in res.stderr
    res = subprocess.run([sys.executable, "-m", "edge", "models", "--json"],
                         capture_output=True, text=True, env=env, cwd=tree, timeout=60)
    assert res.returncode == 65
    rows = {r["id"]: r for r in json.loads(res.stdout)}
    assert "does not match" in rows[mid]["status"]
    assert all(r["status"] == "ok" for k, r in rows.items() if k != mid)


def test_models_command_lists_metrics() -> None:
    res = subprocess.run([sys.executable, "-m", "edge", "models", "--json"], capture_output=True,
                         text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert {r["id"] for r in rows} >= {"face_detect_short", "face_detect_full"}
    for r in rows:
        assert r["status"] == "ok" and r["metrics"]["size_bytes"] > 0


def test_committed_model_files_stay_under_ten_megabytes() -> None:
    """Models are plain files in git (no LFS): each one, float twins included, < 10 MB."""
    files = [p for p in (ROOT / "models").rglob("*") if p.is_file()
             and "__pycache__" not in p.parts]
    assert any(p.suffix == ".tflite" for p in files)
    too_big = {str(p.relative_to(ROOT)): p.stat().st_size for p in files
               if p.stat().st_size >= 10_000_000}
    assert not too_big, too_big
