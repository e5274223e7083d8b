"""Action-unit intensities in [0, 1] from face-mesh geometry.

These are geometric estimates, not a FACS coder: each action unit is read from
one or two distances between mesh landmarks that the unit's muscle changes
(AU12, the lip-corner puller, raises the mouth corners above the lip centre and
widens the mouth), measured in the face's own 3D frame (eye line and the axis
to the mouth; `face_frame`) in units of the distance between the eyes. A
distance counts against the face's own neutral value: per track, the mean of
its frames the expression network reads as neutral (held in memory and
forgotten with the track), shrunk towards the population's neutral mean until
enough such frames are seen. The deviation, in units of the
population's neutral spread, maps smoothly onto [0, 1] (see `intensities`).

The population statistics and the range come from `models/action_units.json`
(`python -m models.training.action_units`, fitted on FER2013 train).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

MEASURES = ("brow_inner", "brow_outer", "brow_mid", "brow_gap", "eye_open", "lower_lid",
            "cheek", "nose_ala", "nose_lip", "mouth_width", "corner_raise", "lip_gap",
            "mouth_open", "jaw", "lip_chin", "lip_thickness")
"""Distances read from the mesh, each signed so that larger means 'more raised/open'."""

ACTION_UNITS: dict[str, tuple[tuple[str, int], ...]] = {
    "AU1": (("brow_inner", 1),),                          # inner brow raiser
    "AU2": (("brow_outer", 1),),                          # outer brow raiser
    # corrugator draws the brows down and together
    "AU4": (("brow_inner", -1), ("brow_gap", -1)),        # brow lowerer
    "AU5": (("eye_open", 1),),                            # upper lid raiser
    # the cheek lifts the skin under the eye: the lower lid rises, the lip nears the nose
    "AU6": (("lower_lid", 1), ("nose_lip", -1)),          # cheek raiser
    # procerus pulls the middle of the brow down as the nose wrinkles; the lip's rise
    # towards the nose (nose_lip) barely reads in the mesh (see `models/training/action_units`)
    "AU9": (("brow_mid", -1),),                           # nose wrinkler
    "AU12": (("corner_raise", 1), ("mouth_width", 1)),    # lip corner puller
    "AU15": (("corner_raise", -1),),                      # lip corner depressor
    "AU17": (("lip_chin", -1),),                          # chin raiser
    "AU20": (("mouth_width", 1), ("corner_raise", -1)),   # lip stretcher
    "AU23": (("lip_thickness", -1),),                     # lip tightener
    "AU25": (("lip_gap", 1),),                            # lips part
    # the lips' outer edges part with the jaw; the chin point itself is often cut off
    "AU26": (("mouth_open", 1),),                         # jaw drop
    "AU45": (("eye_open", -1),),                          # blink
}
"""Each action unit: the measures it moves, and in which direction."""

# Mesh indices (subject's right side first).
_EYE_CORNERS = ((33, 133), (263, 362))
_INNER_BROW = ((55, 107), (285, 336))
_OUTER_BROW = ((46, 70), (276, 300))
_MID_BROW = (105, 334)
_LIDS = ((159, 145), (386, 374))          # upper, lower
_CHEEK = (205, 425)
_ALA = (129, 358)
_MOUTH_CORNERS = (61, 291)
_LIP = {"upper_outer": 0, "upper_inner": 13, "lower_inner": 14, "lower_outer": 17}
_NOSE_TIP, _NOSE_BOTTOM, _CHIN = 1, 2, 152


def eye_distance(points: npt.NDArray[np.float64]) -> float:
    """Distance between the two eye centres (mean of each eye's corners) of a mesh."""
    eyes = np.array([points[list(c), :2].mean(0) for c in _EYE_CORNERS])
    return float(np.hypot(*(eyes[1] - eyes[0]))) or 1.0


def face_frame(points: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """The mesh in the face's own frame, in inter-eye distances: origin between the eyes,
    x from the subject's right eye to the left, y towards the mouth (perpendicular to x),
    z out of the face. In 3D (the mesh's relative depth), so a head turned or tilted
    keeps its distances; with (N, 2) points it is the eye-levelled image plane."""
    p = np.asarray(points, np.float64)
    if p.shape[1] == 2:
        p = np.concatenate([p, np.zeros((len(p), 1))], axis=1)
    eyes = np.array([p[list(c)].mean(0) for c in _EYE_CORNERS])
    mid = eyes.mean(0)
    x = eyes[1] - eyes[0]
    iod = float(np.linalg.norm(x)) or 1.0
    x = x / iod
    y = p[[_LIP["upper_inner"], _LIP["lower_inner"]]].mean(0) - mid
    y = y - x * float(np.dot(y, x))
    y = y / (float(np.linalg.norm(y)) or 1.0)
    rot = np.stack([x, y, np.cross(x, y)])
    return np.asarray((p - mid) @ rot.T / iod, np.float64)


def measure(points: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """The `MEASURES` of one face from its (468, 3) mesh (or (468, 2) image points), in
    inter-eye distances, in the face's own frame (`face_frame`)."""
    q = face_frame(points)

    def y(i: int) -> float:
        return float(q[i, 1])

    eye_y = [float(q[list(cn), 1].mean()) for cn in _EYE_CORNERS]
    inner = np.mean([y(cn[1]) - y(b[0]) for cn, b in zip(_EYE_CORNERS, _INNER_BROW, strict=True)])
    outer = np.mean([y(cn[0]) - y(b[0]) for cn, b in zip(_EYE_CORNERS, _OUTER_BROW, strict=True)])
    mid = np.mean([e - y(i) for e, i in zip(eye_y, _MID_BROW, strict=True)])
    gap = abs(float(q[_INNER_BROW[1][0], 0] - q[_INNER_BROW[0][0], 0]))
    eye_open = np.mean([y(lo) - y(up) for up, lo in _LIDS])
    lower_lid = np.mean([e - y(lo) for e, (_, lo) in zip(eye_y, _LIDS, strict=True)])
    cheek = np.mean([e - y(i) for e, i in zip(eye_y, _CHEEK, strict=True)])
    ala = np.mean([e - y(i) for e, i in zip(eye_y, _ALA, strict=True)])
    nose_lip = y(_LIP["upper_outer"]) - y(_NOSE_BOTTOM)
    width = float(np.hypot(*(q[_MOUTH_CORNERS[1], :2] - q[_MOUTH_CORNERS[0], :2])))
    centre = (y(_LIP["upper_inner"]) + y(_LIP["lower_inner"])) / 2.0
    corner = centre - float(np.mean([y(i) for i in _MOUTH_CORNERS]))
    lip_gap = y(_LIP["lower_inner"]) - y(_LIP["upper_inner"])
    mouth_open = y(_LIP["lower_outer"]) - y(_LIP["upper_outer"])
    jaw = y(_CHIN) - y(_NOSE_TIP)
    lip_chin = y(_CHIN) - y(_LIP["lower_outer"])
    thick = (y(_LIP["upper_inner"]) - y(_LIP["upper_outer"])) + \
        (y(_LIP["lower_outer"]) - y(_LIP["lower_inner"]))
    return np.array([inner, outer, mid, gap, eye_open, lower_lid, cheek, ala, nose_lip, width,
                     corner, lip_gap, mouth_open, jaw, lip_chin, thick], np.float64)


@dataclass(frozen=True)
class Population:
    """Neutral faces' mean and spread of each measure, and the deviation that reads 1."""

    mean: npt.NDArray[np.float64]
    sd: npt.NDArray[np.float64]
    range_sd: float
    prior_frames: float
    """A track's own neutral mean counts as this many population frames' worth."""

    @classmethod
    def load(cls, path: Path) -> Population:
        d = json.loads(Path(path).read_text("utf-8"))
        return cls(np.array([d["neutral_mean"][m] for m in MEASURES], np.float64),
                   np.array([d["neutral_sd"][m] for m in MEASURES], np.float64),
                   float(d["range_sd"]), float(d.get("prior_frames", 10.0)))


def intensities(values: npt.NDArray[np.float64], neutral: npt.NDArray[np.float64],
                pop: Population) -> dict[str, float]:
    """Action-unit intensities in [0, 1] of measured `values` against a `neutral` face:
    the mean signed deviation of the unit's measures in units of `range_sd` neutral
    spreads, through a logistic step (a neutral face reads 0.12, a deviation of one
    range 0.88); smooth, so that faces keep their order near neutral too."""
    z = (values - neutral) / (pop.sd * pop.range_sd)
    out = {}
    for au, parts in ACTION_UNITS.items():
        c = float(np.mean([sign * z[MEASURES.index(m)] for m, sign in parts]))
        out[au] = float(1.0 / (1.0 + np.exp(-4.0 * (np.clip(c, -5.0, 5.0) - 0.5))))
    return out


@dataclass
class TrackNeutral:
    """One track's own neutral face: the running mean of its neutral-looking frames."""

    pop: Population
    n: int = 0
    total: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(len(MEASURES)))

    def observe(self, values: npt.NDArray[np.float64]) -> None:
        self.n += 1
        self.total += values

    def neutral(self) -> npt.NDArray[np.float64]:
        k = self.pop.prior_frames
        return (self.total + k * self.pop.mean) / (self.n + k)
