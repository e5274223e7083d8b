"""Face mesh, head pose and action units: the shipped int8 mesh on real faces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.face.action_units import ACTION_UNITS, Population, intensities, measure
from edge.face.analyzer import ACTION_UNITS_ID, MESH_ID, FaceAnalyzer, scene_aus
from edge.face.detector import FaceDetector
from edge.face.headpose import head_pose
from edge.face.mesh import FaceMesh
from edge.lab.media import frames
from edge.registry import Registry
from edge.settings import FaceSettings


def _sample_face(shared_data: Path, name: str = "single_face.jpg") -> tuple[np.ndarray, object]:
    img = cv2.imread(str(shared_data / "face" / "samples" / name))
    det = FaceDetector(Registry().load("face_detect_short", 1), "face_detect_short")
    found = det.detect(img)
    assert found, name
    return img, max(found, key=lambda d: d.width)


def test_mesh_lands_on_the_face_and_a_frontal_face_reads_frontal(shared_data: Path) -> None:
    img, d = _sample_face(shared_data)
    mesh = FaceMesh(Registry().load(MESH_ID, 1)).run(img, d)
    assert mesh is not None and mesh.presence > 0.9 and mesh.points.shape == (468, 3)
    eye_r, eye_l = mesh.points[[33, 133]].mean(0)[:2], mesh.points[[263, 362]].mean(0)[:2]
    width = d.box[2] - d.box[0]
    # the mesh's eye centres sit on the detector's eye keypoints
    assert np.hypot(*(eye_r - d.keypoints[0])) < 0.08 * width
    assert np.hypot(*(eye_l - d.keypoints[1])) < 0.08 * width
    pose = head_pose(mesh.points, img.shape[1], img.shape[0])
    assert pose is not None and abs(pose.yaw) < 15 and abs(pose.pitch) < 15 and abs(pose.roll) < 10


@pytest.mark.parametrize("yaw", [-35.0, -20.0, 20.0, 35.0])
def test_head_pose_recovers_a_known_turn(shared_data: Path, yaw: float) -> None:
    """The frontal face's mesh turned in 3D by a known yaw and pitch, projected again."""
    img, d = _sample_face(shared_data)
    mesh = FaceMesh(Registry().load(MESH_ID, 1)).run(img, d)
    assert mesh is not None
    p = mesh.points.astype(np.float64)
    centre = p.mean(0)
    # mesh axes: x right, y down, z towards the camera negative; a face turning to the
    # image's right (positive yaw) brings its nose (the nearest point) to the right
    a, b = np.radians(-yaw), np.radians(10.0)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    turned = (p - centre) @ (ry @ rx).T + centre
    base = head_pose(mesh.points, img.shape[1], img.shape[0])
    pose = head_pose(turned.astype(np.float32), img.shape[1], img.shape[0])
    assert base is not None and pose is not None
    assert np.sign(pose.yaw - base.yaw) == np.sign(yaw)
    assert abs((pose.yaw - base.yaw) - yaw) < 15, (pose, base)


def test_action_units_read_neutral_low_and_a_smile_as_au12() -> None:
    pop = Population.load(Registry().verify(ACTION_UNITS_ID))
    at_rest = intensities(pop.mean, pop.mean, pop)
    assert set(at_rest) == set(ACTION_UNITS) and max(at_rest.values()) < 0.15
    from edge.face.action_units import MEASURES

    smile = pop.mean.copy()
    for m in ("corner_raise", "mouth_width"):
        smile[MEASURES.index(m)] += pop.range_sd * pop.sd[MEASURES.index(m)]
    s = intensities(smile, pop.mean, pop)
    assert s["AU12"] > 0.85 and s["AU15"] < 0.05 and s["AU4"] == at_rest["AU4"]


def test_a_smile_in_a_real_clip_raises_au12_and_the_scene_aggregate_only(
        shared_data: Path) -> None:
    """liveportrait_d0: a man, neutral, then smiling. AU12 of his track rises; what leaves
    the analyzer is the scene's mean and smiling share; his neutral face is forgotten
    with his track."""
    an = FaceAnalyzer(FaceSettings(), threads=2)
    au12, metrics = [], []
    for i, (_, t, img) in enumerate(frames(shared_data / "video" / "liveportrait_d0.mp4")):
        faces = an.analyze(img, t)
        if faces and faces[0].aus is not None:
            au12.append(faces[0].aus["AU12"])
            metrics.append(scene_aus(faces))
        if i == 0:
            assert an.geometry is not None and an.geometry.runs == 1
    assert len(au12) > 60
    assert np.mean(au12[:15]) < 0.35 and max(au12[20:]) > 0.8, au12
    assert all(set(m) == {a.lower() for a in ACTION_UNITS} | {"smiling_share"} for m in metrics)
    assert metrics[-1]["smiling_share"] in (0.0, 1.0)
    assert an.geometry is not None
    an.analyze(np.zeros((480, 640, 3), np.uint8), 1e6)  # no face from now on
    for k in range(12):
        an.analyze(np.zeros((480, 640, 3), np.uint8), 1e6 + k)
    assert an.geometry._tracks == {}


def test_mesh_every_bounds_the_cost_and_off_means_no_mesh(shared_data: Path) -> None:
    clip = shared_data / "video" / "single_face.mp4"
    runs = {}
    for every in (1, 4):
        an = FaceAnalyzer(FaceSettings(mesh_every=every), threads=1)
        n = sum(bool(an.analyze(img, t)) for _, t, img in frames(clip))
        assert an.geometry is not None
        runs[every] = an.geometry.runs
    assert runs[1] >= n - 1 and runs[4] <= runs[1] / 3.5 + 1
    off = FaceAnalyzer(FaceSettings(action_units=False), threads=1)
    for _, t, img in frames(clip):
        assert all(f.aus is None and f.pose is None for f in off.analyze(img, t))
    assert off.geometry is None and MESH_ID not in " ".join(off.model_ids())


def test_eval_aus_on_held_out_fer_crops(shared_data: Path, tmp_path: Path) -> None:
    """`affectd eval aus --crops` on FER2013 val crops (written to a temporary folder):
    the smile unit separates happy faces; the JSON carries every prototype unit."""
    from edge.lab.data import FER_LABELS, load_fer_split

    x, y = load_fer_split("val")
    rng = np.random.default_rng(1)
    for c, label in enumerate(FER_LABELS):
        (tmp_path / label).mkdir()
        for i in rng.permutation(np.flatnonzero(y == c))[:40]:
            cv2.imwrite(str(tmp_path / label / f"{i}.png"), x[i])
    res = subprocess.run([sys.executable, "-m", "edge", "eval", "aus", "--images", str(tmp_path),
                          "--crops", "--json"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert set(r["aus"]) == {"AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15",
                             "AU20", "AU23", "AU26"}
    assert r["aus"]["AU12"]["positive"] == ["happy"] and r["aus"]["AU12"]["auroc"] > 0.8
    assert r["aus"]["AU12"]["n"] == r["n"] >= 250 and r["mean_auroc"] > 0.6


def test_measures_are_invariant_to_scale_roll_and_turn(shared_data: Path) -> None:
    img, d = _sample_face(shared_data)
    mesh = FaceMesh(Registry().load(MESH_ID, 1)).run(img, d)
    assert mesh is not None
    a = np.radians(25.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = 2.5 * mesh.points
    moved[:, :2] = moved[:, :2] @ rot.T + 40.0
    assert np.allclose(measure(mesh.points), measure(moved), atol=1e-6)
    # a head turned in depth keeps its measures in the face's own 3D frame
    b = np.radians(30.0)
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    turned = (mesh.points.astype(np.float64) @ ry.T).astype(np.float32)
    assert np.allclose(measure(mesh.points), measure(turned), atol=1e-5)


def test_the_recipe_compares_readings_as_the_daemon_reads_them() -> None:
    """`models.training.action_units`: every unit with several anatomical readings ships
    one of them, and a reading's AUROC there is the one `affectd eval aus` gives the
    shipped unit (the same intensities, the same ranking)."""
    pytest.importorskip("scipy")
    from edge.face.action_units import MEASURES
    from edge.lab.data import FER_LABELS
    from edge.lab.evaluate.aus import score_aus
    from models.training.action_units import COMPARED, reading_auroc

    rng = np.random.default_rng(3)
    pop = Population(rng.normal(size=len(MEASURES)), rng.uniform(0.5, 2.0, len(MEASURES)),
                     3.0, 10.0)
    values = rng.normal(size=(350, len(MEASURES))) * 2.0
    labels = [FER_LABELS[i % len(FER_LABELS)] for i in range(350)]
    aus = score_aus(values, labels, pop)
    for au, readings in COMPARED.items():
        assert ACTION_UNITS[au] in readings, au
        assert reading_auroc(values, labels, pop, ACTION_UNITS[au], au) == pytest.approx(
            aus[au]["auroc"], abs=1e-4), au
        assert len({reading_auroc(values, labels, pop, r, au) for r in readings}) > 1, au
