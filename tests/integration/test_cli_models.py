"""`affectd check` and `affectd models` against the registry: tampering refused by name
(exit 65), metrics listed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from edge.registry import Registry
from tests.conftest import tampered_copy

ROOT = Path(__file__).resolve().parents[2]


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
    from edge.face.analyzer import DETECTOR_IDS, EXPRESSION_IDS

    if mid in (*DETECTOR_IDS.values(), *EXPRESSION_IDS.values()):
        video = tmp_path / "still.png"
        import cv2
        import numpy as np

        cv2.imwrite(str(video), np.zeros((64, 64, 3), np.uint8))
        detector = next(k for k, v in DETECTOR_IDS.items() if v == mid) \
            if mid in DETECTOR_IDS.values() else "short"
        expression = next((k for k, v in EXPRESSION_IDS.items() if v == mid), "single")
        run_cfg = tmp_path / "run.toml"
        run_cfg.write_text(f"[device]\nstate_dir = '{tmp_path / 'state'}'\n[mqtt]\nport = 1\n"
                           f"[camera]\nenabled = true\nbackend = 'file'\npath = '{video}'\n"
                           f"[face]\ndetector = '{detector}'\nexpression = '{expression}'\n")
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
