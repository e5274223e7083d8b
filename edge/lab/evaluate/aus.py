"""`affectd eval aus --images DIR [--crops] --json`: do the action-unit estimates move
with the expressions whose prototypes contain them?

DIR holds `<label>/*.{jpg,png}` (labels as for `affectd eval face`). Each face goes
through the daemon's mesh and action-unit code (`edge.face.mesh`,
`edge.face.action_units`) against the population's neutral face (a single image
has no track of its own). For each action unit with an EMFACS prototype, the
AUROC of its intensity for the expressions whose prototype contains it against
all other images: AU1, AU2, AU5 -> surprise, fear; AU26 -> surprise; AU4 -> angry,
sad, fear; AU6, AU12 -> happy; AU9 -> disgust; AU15 -> sad; AU20 -> fear; AU23 ->
angry. With `--crops` the images are face crops framed like FER2013's (48x48
crops are a harder case than camera frames: the mesh sees 48 pixels upscaled);
otherwise the largest detected face is used and an image without one is counted
in `no_face`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.face.action_units import MEASURES, Population, intensities, measure
from edge.face.analyzer import ACTION_UNITS_ID, DETECTOR_IDS, MESH_ID
from edge.face.detector import FaceDetector
from edge.face.mesh import FaceMesh, crop_detection
from edge.lab.evaluate.face import labelled_images, read_bgr
from edge.registry import Registry
from edge.settings import FaceSettings

PROTOTYPES: dict[str, tuple[str, ...]] = {
    "AU1": ("surprise", "fear"), "AU2": ("surprise", "fear"), "AU4": ("angry", "sad", "fear"),
    "AU5": ("surprise", "fear"), "AU6": ("happy",), "AU9": ("disgust",), "AU12": ("happy",),
    "AU15": ("sad",), "AU20": ("fear",), "AU23": ("angry",), "AU26": ("surprise",),
}
"""Action units and the expressions whose EMFACS prototypes contain them."""
ACCEPTANCE_SET = ("AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU15", "AU26")
"""The units whose mean AUROC the issue's acceptance names."""


def auroc(scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores counted half); NaN when
    one side is empty."""
    from scipy.stats import rankdata

    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def crop_measures(crops: Iterable[npt.NDArray[np.uint8]], mesh: FaceMesh
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """`MEASURES` of each face crop (rows of NaN where the mesh finds no face), and
    which crops had a mesh."""
    rows, ok = [], []
    det = None
    for img in crops:
        if det is None or det.box[2:] != (float(img.shape[1]), float(img.shape[0])):
            det = crop_detection(img.shape[1], img.shape[0])
        m = mesh.run(img, det, replicate=True)
        ok.append(m is not None)
        rows.append(measure(m.points) if m is not None else np.full(len(MEASURES), np.nan))
    return np.array(rows, np.float64).reshape(-1, len(MEASURES)), np.array(ok, bool)


def au_table(values: npt.NDArray[np.float64], pop: Population) -> dict[str, npt.NDArray[Any]]:
    """Intensity of every action unit for each row of measures (population neutral)."""
    rows = [intensities(v, pop.mean, pop) for v in values]
    return {au: np.array([r[au] for r in rows]) for au in (rows[0] if rows else {})}


def score_aus(values: npt.NDArray[np.float64], labels: list[str], pop: Population
              ) -> dict[str, Any]:
    """The report's `aus` object from measures and expression labels."""
    table = au_table(values, pop)
    lab = np.array(labels)
    out: dict[str, Any] = {}
    for au, positive in PROTOTYPES.items():
        pos = np.isin(lab, positive)
        a = auroc(table[au], pos)
        out[au] = {"auroc": round(a, 4) if np.isfinite(a) else None, "positive": list(positive),
                   "n": len(lab), "n_positive": int(pos.sum())}
    return out


def evaluate_aus(images: Path, crops: bool, settings: FaceSettings,
                 threads: int = 2) -> dict[str, Any]:
    reg = Registry()
    mesh = FaceMesh(reg.load(MESH_ID, threads))
    pop = Population.load(reg.verify(ACTION_UNITS_ID))
    det_id = DETECTOR_IDS[settings.detector]
    detector = None if crops else FaceDetector(reg.load(det_id, threads), det_id,
                                               settings.min_score)
    files, skipped = labelled_images(images)
    rows, labels = [], []
    unreadable = no_face = 0
    for label, path in files:
        img = read_bgr(path)
        if img is None:
            unreadable += 1
            continue
        if crops:
            values, ok = crop_measures([img], mesh)
            if not ok[0]:
                no_face += 1
                continue
            rows.append(values[0])
        else:
            assert detector is not None
            dets = detector.detect(img, settings.tiles)
            m = mesh.run(img, max(dets, key=lambda d: d.width)) if dets else None
            if m is None:
                no_face += 1
                continue
            rows.append(measure(m.points))
        labels.append(label)
    if not rows:
        raise ValueError(f"{images}: no face read in any image under <label>/ folders")
    values = np.array(rows)
    aus = score_aus(values, labels, pop)
    accepted = [aus[a]["auroc"] for a in ACCEPTANCE_SET if aus[a]["auroc"] is not None]
    return {"aus": aus, "mean_auroc": round(float(np.mean(accepted)), 4) if accepted else None,
            "mean_over": list(ACCEPTANCE_SET), "n": len(labels), "no_face": no_face,
            "unreadable": unreadable, "skipped_folders": skipped, "crops": crops,
            "models": [reg.get(MESH_ID).ref, reg.get(ACTION_UNITS_ID).ref],
            "detector": None if crops else det_id}


def aus_lines(r: dict[str, Any]) -> list[str]:
    """The text form of the report (`--json` prints `r` itself)."""
    out = [f"{r['n']} faces ({r['no_face']} images without one); mean AUROC over "
           f"{', '.join(r['mean_over'])}: {r['mean_auroc']}"]
    for au, v in r["aus"].items():
        a = "n/a  " if v["auroc"] is None else f"{v['auroc']:.3f}"
        out.append(f"  {au:5} AUROC {a}  for {', '.join(v['positive'])} "
                   f"({v['n_positive']} of {v['n']})")
    return out
