"""The face analyzer: frame -> faces -> tracks -> aligned crops -> expression (every
`face.expression_every` frames per track) -> per-track smoothing -> scene estimate
for fusion; with `face.action_units`, the face mesh on gated faces -> head pose (into
the quality gate) and action units.

Models come only from the registry (`face_detect_short` or `face_detect_full`,
`face_expression`, and `face_mesh` + `action_units`). Per-face results stay
inside the process; the estimate carries the scene aggregate (face count,
quality-weighted emotion distribution, valence, arousal, and in `metrics` the
mean action-unit intensities and the share of faces smiling).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from edge.analyzer import Analyzer
from edge.circumplex import valence_arousal
from edge.face.action_units import Population
from edge.face.align import Quality, align_face, face_quality
from edge.face.detector import FaceDetector, TileScan
from edge.face.expression import EmotionEvent, ExpressionModel, SmoothedTrack, aggregate
from edge.face.geometry import FaceGeometry
from edge.face.headpose import HeadPose
from edge.face.mesh import MESH_ID, FaceMesh
from edge.face.tracker import Tracker
from edge.inference import TFLiteModel
from edge.messages import FaceObservation, ModalityEstimate, SourceItem, VideoFrame
from edge.registry import Registry
from edge.settings import FaceSettings

DETECTOR_IDS = {"short": "face_detect_short", "full": "face_detect_full"}
EXPRESSION_IDS = {"single": "face_expression_single", "ensemble": "face_expression"}
ACTION_UNITS_ID = "action_units"
SMILING = 0.5
"""A face whose AU12 (lip-corner puller) reads at least this counts as smiling."""


@dataclass(frozen=True)
class FaceResult:
    """One tracked face in one frame (for replay and tests; never published)."""

    track: int
    box: tuple[float, float, float, float]
    probs: tuple[float, ...]
    emotion: str
    valence: float
    arousal: float
    quality: float
    parts: Quality
    pose: HeadPose | None = None
    aus: dict[str, float] | None = None


class FaceAnalyzer(Analyzer):
    name = "face"
    modality = "face"

    def __init__(self, settings: FaceSettings, registry: Registry | None = None,
                 threads: int = 2, models: tuple[TFLiteModel, TFLiteModel] | None = None) -> None:
        """Models come from the registry; `models` (detector, expression) is only for
        `affectd bench vision`, which times the float twins through the same path."""
        reg = registry or Registry()
        self.settings = settings
        det_id = DETECTOR_IDS[settings.detector]
        expr_id = EXPRESSION_IDS[settings.expression]
        det_model, expr_model = models or (reg.load(det_id, threads),
                                           reg.load(expr_id, threads))
        self.detector = FaceDetector(det_model, det_id, settings.min_score)
        self.expression = ExpressionModel(expr_model)
        self._ids = [reg.get(det_id).ref, reg.get(expr_id).ref]
        self._mesh: FaceMesh | None = None
        self._population: Population | None = None
        if settings.action_units:
            self._mesh = FaceMesh(reg.load(MESH_ID, threads))
            self._population = Population.load(reg.verify(ACTION_UNITS_ID))
            self._ids += [reg.get(MESH_ID).ref, reg.get(ACTION_UNITS_ID).ref]
        self.events: deque[EmotionEvent] = deque(maxlen=256)
        self.last_faces: list[FaceResult] = []
        self.reset()

    def model_ids(self) -> list[str]:
        return list(self._ids)

    def reset(self) -> None:
        s = self.settings
        self.tracker = Tracker(max_missed=s.max_missed, min_hits=s.min_hits)
        self._tiles = TileScan(s.tiles, s.tile_scan_every)
        self._smooth: dict[int, SmoothedTrack] = {}
        """Per track: its smoothed expression and the model's last reading."""
        self.expression_runs = 0
        """Expression-model runs since the last reset (for `affectd bench` and tests)."""
        self.geometry = (FaceGeometry(self._mesh, self._population, s)
                         if self._mesh is not None and self._population is not None else None)
        self.last_faces = []

    def analyze(self, image: npt.NDArray[np.uint8], t: float) -> list[FaceResult]:
        dets = self.detector.detect(image)
        if self._tiles.due():
            full = len(dets)
            fine = self._tiles.fine_tiles() if self.settings.fine_tiles else []
            dets, fine_found = self.detector.tile_pass(image, dets, fine)
            self._tiles.saw(len(dets) > full, fine_found)
        dets = sorted(dets, key=lambda d: -d.width)[:self.settings.max_faces]
        tracks = self.tracker.update(dets)
        alive = {tr.id for tr in self.tracker.tracks}
        for tid in list(self._smooth):
            if tid not in alive:
                del self._smooth[tid]  # forgotten with its track
        if self.geometry is not None:
            self.geometry.forget(alive)
        out = []
        for tr in tracks:
            d = tr.detection
            assert d is not None
            crop = align_face(image, d)
            q = face_quality(d, crop)
            sm = self._smooth.setdefault(tr.id, SmoothedTrack(
                self.settings.smoothing_s, self.settings.hysteresis, self.settings.dwell_s))
            pose, aus = None, None
            if self.geometry is not None:
                g = self.geometry.update(tr.id, image, d, q.overall, sm.label == "neutral")
                pose, aus = g.pose, g.aus
                if pose is not None:  # the mesh's head pose replaces the keypoint estimate
                    q = replace(q, pose=pose.frontal(self.settings.max_yaw_deg,
                                                     self.settings.max_pitch_deg))
            probs = self._expression(sm, crop)
            prev = sm.label
            changed = sm.update(probs, q.overall, t)
            if changed is not None:
                self.events.append(EmotionEvent(tr.id, t, prev, changed))
            assert sm.probs is not None and sm.label is not None
            v, a = valence_arousal(sm.probs.tolist())
            out.append(FaceResult(tr.id, d.box, tuple(float(p) for p in sm.probs), sm.label,
                                  v, a, q.overall, q, pose, aus))
        self.last_faces = out
        return out

    def _expression(self, sm: SmoothedTrack, crop: npt.NDArray[np.uint8]
                    ) -> npt.NDArray[np.float32]:
        """The track's expression probabilities: the model's on its first frame and every
        `expression_every` frames, its last reading in between."""
        if sm.reading is None or sm.reading_due(self.settings.expression_every):
            sm.reading = self.expression.predict(crop)
            self.expression_runs += 1
        return sm.reading

    def process(self, item: SourceItem) -> list[ModalityEstimate]:
        if not isinstance(item, VideoFrame):
            return []
        faces = self.analyze(item.image, item.ts)
        live = [self._smooth[f.track] for f in faces]
        scene = aggregate(live)
        if scene.faces == 0:
            return [ModalityEstimate("face", item.ts, 0.0, count=0)]
        assert scene.probs is not None
        observed = tuple(FaceObservation(f.track, f.probs, f.valence, f.arousal,
                                         dict(f.aus) if f.aus else None)
                         for f in faces)
        return [ModalityEstimate("face", item.ts, scene.quality, probs=scene.probs,
                                 valence=scene.valence, arousal=scene.arousal,
                                 count=scene.faces, metrics=scene_aus(faces), faces=observed)]


def scene_aus(faces: list[FaceResult]) -> dict[str, float]:
    """Scene aggregates of the action units: each unit's mean intensity over the faces
    with a reading (`au1` ... `au45`) and the share of them smiling (`smiling_share`);
    nothing when no face has one. Never a single face's values beside the mean."""
    read = [f.aus for f in faces if f.aus]
    if not read:
        return {}
    out = {au.lower(): round(float(np.mean([r[au] for r in read])), 3) for au in read[0]}
    out["smiling_share"] = round(float(np.mean([r["AU12"] >= SMILING for r in read])), 3)
    return out
