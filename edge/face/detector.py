"""Face detection with the int8 BlazeFace models: letterbox, invoke, anchor decoding,
weighted non-maximum suppression, boxes and 6 keypoints mapped back to the frame.

Anchors and decoding follow MediaPipe's SSD anchor calculator and
TensorsToDetections settings for these two models (short range: 128x128
input, strides 8/16/16/16, 896 anchors; full range: 192x192, stride 4, 2304
anchors). Keypoints: right eye, left eye, nose tip, mouth, right ear tragion,
left ear tragion (the subject's right/left).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.face.preprocess import Letterbox, letterbox, to_unit_range
from edge.inference import TFLiteModel


@dataclass(frozen=True)
class DetectorSpec:
    size: int
    strides: tuple[int, ...]
    interpolated_scale: bool
    min_score: float


SPECS = {
    "face_detect_short": DetectorSpec(128, (8, 16, 16, 16), True, 0.5),
    "face_detect_full": DetectorSpec(192, (4,), False, 0.5),
}


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]
    """x0, y0, x1, y1 in frame pixels."""
    score: float
    keypoints: npt.NDArray[np.float32]
    """(6, 2) frame pixels."""

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


def anchors(spec: DetectorSpec) -> npt.NDArray[np.float32]:
    """(N, 2) anchor centres in [0, 1] (fixed anchor size 1, so only centres matter)."""
    out: list[tuple[float, float]] = []
    i = 0
    strides = spec.strides
    while i < len(strides):
        n_per_cell = 0
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            n_per_cell += 2 if spec.interpolated_scale else 1
            j += 1
        cells = int(np.ceil(spec.size / strides[i]))
        for y in range(cells):
            for x in range(cells):
                out += [((x + 0.5) / cells, (y + 0.5) / cells)] * n_per_cell
        i = j
    return np.array(out, np.float32)


def _area(b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def intersection(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]
                 ) -> npt.NDArray[np.float32]:
    """(N, M) intersection areas of (N, 4) and (M, 4) boxes in x0, y0, x1, y1."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)


def iou_matrix(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """IoU between (N, 4) and (M, 4) boxes in x0, y0, x1, y1."""
    inter = intersection(a, b)
    area_a, area_b = _area(a), _area(b)
    return (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)).astype(np.float32)


def weighted_nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32],
                 kps: npt.NDArray[np.float32], iou: float = 0.3
                 ) -> list[tuple[npt.NDArray[np.float32], float, npt.NDArray[np.float32]]]:
    """MediaPipe's weighted NMS: overlapping candidates are averaged by score."""
    order = np.argsort(-scores)
    boxes, scores, kps = boxes[order], scores[order], kps[order]
    out = []
    remaining = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        overlap = iou_matrix(boxes[i:i + 1], boxes)[0] > iou
        group = overlap & remaining
        remaining &= ~group
        w = scores[group][:, None]
        out.append(((boxes[group] * w).sum(0) / w.sum(), float(scores[i]),
                    (kps[group] * w[:, :, None]).sum(0) / w.sum()))
    return out


def merge(dets: list[Detection], iou: float = 0.3) -> list[Detection]:
    """Weighted NMS over detections from several passes (full frame and tiles)."""
    if len(dets) < 2:
        return dets
    boxes = np.array([d.box for d in dets], np.float32)
    scores = np.array([d.score for d in dets], np.float32)
    kps = np.stack([d.keypoints for d in dets]).astype(np.float32)
    merged = [Detection(tuple(float(v) for v in b), s, k)  # type: ignore[arg-type]
              for b, s, k in weighted_nms(boxes, scores, kps, iou)]
    # At full-frame scale two small neighbouring faces can blur into one big candidate;
    # once the tiles resolve them, a box that holds two or more others is that artefact.
    b = np.array([d.box for d in merged], np.float32).reshape(-1, 4)
    inside = intersection(b, b) / np.maximum(_area(b)[None, :], 1e-9) > 0.6  # j mostly in i
    np.fill_diagonal(inside, False)
    return [d for i, d in enumerate(merged) if inside[i].sum() < 2]


TILE_EDGE = 0.02
"""A tile detection this close (share of the tile) to an edge the tile shares with the
rest of the frame is a face cut by the tile: the full pass or another tile has it."""
TILE_MIN_SCORE = 0.8
"""A tile is an extra, closer look: what it alone finds must be clearer than a detection
of the whole frame. (On the group photo the tiles' true faces score 0.88-0.96; the
things a tile mistakes for a face in ../shared's clips without one, 0.62-0.76.)"""
TILE_FACE_MAX = 0.3
"""Tile detections wider than this share of the tile are faces the full pass finds; a
tile's close-up of a big face only adds a second, partial box."""
COARSE_TILE = 0.6
"""The coarse tiles: the four corners' rectangles of this share of the frame."""
FINE_TILE = 0.375
"""The fine tiles: squares of this share of the frame's shorter side (180 px at 640x480,
20 of them), for faces of about 26-50 px that the coarse tiles shrink below what the
short-range model resolves (`affectd eval distance`). Neighbours overlap by at least a
quarter of a tile (65 and 80 px at 640x480), so every face up to about 60 px, where
the coarse tiles take over, is whole in one of them; smaller tiles would magnify more
but, at the same count, overlap less than the largest face they must hold (160-px
tiles, 40 px: one of the group photo's 52-px faces was cut in every tile)."""

ZOOM_CONTEXT = 3.0
"""A tile's unsure face (scoring between the detector's threshold and `TILE_MIN_SCORE`)
gets a second look: a square this many times its width around it, magnified to the
model's input. Where the tile saw a real face of 18-35 px, the second look scores
0.87-0.98; the things tiles take for faces in ../shared's clips without one score at
most 0.55 there (`affectd eval distance`; the one group-photo face of ~25 px that
a fine tile scored 0.78 is how faces were lost at room distance)."""

FINE_EVERY_LOOKS = 3
"""With `tiles = 1` the fine tiles all run on every third periodic look (every 45th
frame by default: a distant face is found within 3 s at 15 fps); they cost five
times the coarse ones."""

Rect = tuple[int, int, int, int]


def _starts(total: int, size: int) -> list[int]:
    """Tile origins covering `total` with tiles of `size` overlapping by >= a quarter."""
    n = int(np.ceil(max(0, total - size) / (0.75 * size))) + 1
    return [round(i * (total - size) / max(1, n - 1)) for i in range(n)]


def tile_rects(w: int, h: int) -> tuple[list[Rect], list[Rect]]:
    """(coarse, fine) tiles of a w x h frame as (x0, y0, width, height)."""
    tw, th = int(w * COARSE_TILE), int(h * COARSE_TILE)
    coarse = [(x0, y0, tw, th) for x0 in (0, w - tw) for y0 in (0, h - th)]
    side = int(min(w, h) * FINE_TILE)
    fine = [(x0, y0, side, side) for x0 in _starts(w, side) for y0 in _starts(h, side)]
    return coarse, fine


def _shifted(d: Detection, x0: int, y0: int) -> Detection:
    """`d`, found in a crop whose top-left corner is (x0, y0), in frame pixels."""
    box = (d.box[0] + x0, d.box[1] + y0, d.box[2] + x0, d.box[3] + y0)
    return Detection(box, d.score, d.keypoints + np.array([x0, y0], np.float32))


def _whole_small_face(d: Detection, x0: int, y0: int, w: int, h: int, tw: int,
                      th: int) -> bool:
    bx0, by0, bx1, by1 = d.box
    mx, my = TILE_EDGE * tw, TILE_EDGE * th
    cut = ((x0 > 0 and bx0 < mx) or (x0 + tw < w and bx1 > tw - mx)
           or (y0 > 0 and by0 < my) or (y0 + th < h and by1 > th - my))
    return not cut and d.width <= TILE_FACE_MAX * tw


def _overlaps(d: Detection, others: list[Detection]) -> bool:
    """Whether `d` overlaps any of `others` by an IoU of at least 0.3."""
    return bool(others) and float(iou_matrix(np.array([d.box], np.float32), np.array(
        [e.box for e in others], np.float32)).max()) >= 0.3


@dataclass
class TileScan:
    """When a frame gets the tiled passes (`FaceSettings.tiles`): 0 never, 2 always,
    1 ("auto") every `every`-th frame, and on every frame while those passes find faces
    the whole-frame pass misses — until `every` tiled frames in a row find none. A scene
    without small faces pays one tiled frame in `every`; a room with distant faces,
    five passes a frame. The fine tiles (`FaceSettings.fine_tiles`) all run on every
    `FINE_EVERY_LOOKS`-th periodic frame (every frame with `tiles = 2`); on the other
    tiled frames, only those that found faces nothing else found at their last look."""

    mode: int
    every: int
    _frame: int = 0
    _quiet: int = 0
    _active: bool = False
    _looks: int = 0
    _fine_look: bool = False
    _fine: frozenset[int] = frozenset()

    def due(self) -> bool:
        if self.mode != 1:
            self._fine_look = self.mode == 2
            return self._fine_look
        periodic = self._frame % self.every == 0
        self._frame += 1
        self._fine_look = periodic and self._looks % FINE_EVERY_LOOKS == 0
        self._looks += periodic
        return self._active or periodic

    def fine_tiles(self) -> list[int] | None:
        """Indices of the fine tiles to run on this tiled frame (None: all of them)."""
        return None if self._fine_look else sorted(self._fine)

    def saw(self, extra: bool, fine_found: frozenset[int] = frozenset()) -> None:
        """After a tiled frame: did the tiles add faces (and which fine tiles did)?"""
        if self._fine_look:
            self._fine = fine_found
        if extra:
            self._active, self._quiet = True, 0
        elif self._active:
            self._quiet += 1
            self._active = self._quiet < self.every


class FaceDetector:
    """Runs one BlazeFace model on BGR frames."""

    def __init__(self, model: TFLiteModel, model_id: str, min_score: float | None = None) -> None:
        self.model = model
        self.spec = SPECS[model_id]
        self.anchors = anchors(self.spec)
        self.min_score = self.spec.min_score if min_score is None else min_score
        self._score_out = 0 if model.outputs[0].shape[-1] == 1 else 1  # (1, N, 1) scores
        self._table = model.pixel_table(lambda p: p / 127.5 - 1.0)

    def _input(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[Any]:
        return (self._table[rgb] if self._table is not None else to_unit_range(rgb))[None]

    def detect(self, bgr: npt.NDArray[np.uint8], tiles: int = 0) -> list[Detection]:
        """Faces in a BGR frame; `tiles=2` adds `with_tiles`."""
        rgb, lb = letterbox(bgr, self.spec.size)
        dets = self.decode(self.model.run(self._input(rgb)), lb, bgr.shape[1],
                           bgr.shape[0])
        return self.with_tiles(bgr, dets) if tiles >= 2 else dets

    def with_tiles(self, bgr: npt.NDArray[np.uint8], full: list[Detection]) -> list[Detection]:
        """`full` (the whole frame's detections) merged with those of every tile, coarse
        and fine (`tile_rects`)."""
        return self.tile_pass(bgr, full)[0]

    def tile_pass(self, bgr: npt.NDArray[np.uint8], full: list[Detection],
                  fine: list[int] | None = None) -> tuple[list[Detection], frozenset[int]]:
        """`full` merged by weighted NMS with the faces of the four coarse tiles, which
        find faces too small at full-frame scale, then of the fine tiles `fine` (indices
        into `tile_rects(...)[1]`; None: all), which find smaller ones still. A tile's
        detection counts only when it is a whole small face (`_whole_small_face`) with a
        score of at least `TILE_MIN_SCORE`; one it is less sure of counts when no pass has
        it and a closer look confirms it (`ZOOM_CONTEXT`). Also returns the fine tiles
        that found a face no earlier pass had."""
        h, w = bgr.shape[:2]
        coarse, fine_rects = tile_rects(w, h)
        dets = list(full)
        unsure: list[tuple[Detection, int | None]] = []  # and the fine tile that saw it
        for rect in coarse:
            sure, maybe = self._tile_faces(bgr, rect)
            dets += sure
            unsure += [(d, None) for d in maybe]
        dets = merge(dets)
        found = set()
        for i in range(len(fine_rects)) if fine is None else fine:
            sure, maybe = self._tile_faces(bgr, fine_rects[i])
            new = [d for d in sure if not _overlaps(d, dets)]
            if new:
                found.add(i)
                dets = merge(dets + new)
            unsure += [(d, i) for d in maybe]
        # last, a closer look at the faces only a tile was unsure of (`ZOOM_CONTEXT`)
        for d, tile in sorted(unsure, key=lambda u: -u[0].score):
            if _overlaps(d, dets):
                continue
            closer = self._closer_look(bgr, d)
            if closer is not None and closer.score >= TILE_MIN_SCORE:
                dets = merge([*dets, closer])
                if tile is not None:
                    found.add(tile)
        return dets, frozenset(found)

    def _tile_faces(self, bgr: npt.NDArray[np.uint8], rect: Rect
                    ) -> tuple[list[Detection], list[Detection]]:
        """The whole small faces one tile finds, in frame pixels: (those it is sure of,
        those it is unsure of: scoring under `TILE_MIN_SCORE`)."""
        h, w = bgr.shape[:2]
        x0, y0, tw, th = rect
        rgb, lb = letterbox(bgr[y0:y0 + th, x0:x0 + tw], self.spec.size)
        sure: list[Detection] = []
        unsure: list[Detection] = []
        for d in self.decode(self.model.run(self._input(rgb)), lb, tw, th):
            if not _whole_small_face(d, x0, y0, w, h, tw, th):
                continue
            d = _shifted(d, x0, y0)
            (sure if d.score >= TILE_MIN_SCORE else unsure).append(d)
        return sure, unsure

    def _closer_look(self, bgr: npt.NDArray[np.uint8], d: Detection) -> Detection | None:
        """The detection matching `d` in a square `ZOOM_CONTEXT` times its width around
        it, magnified to the model's input (None: the closer look finds no such face)."""
        h, w = bgr.shape[:2]
        side = int(min(max(32.0, ZOOM_CONTEXT * d.width), w, h))
        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
        x0 = int(np.clip(cx - side / 2, 0, w - side))
        y0 = int(np.clip(cy - side / 2, 0, h - side))
        rgb, lb = letterbox(bgr[y0:y0 + side, x0:x0 + side], self.spec.size)
        found = self.decode(self.model.run(self._input(rgb)), lb, side, side)
        near = [c for c in (_shifted(c, x0, y0) for c in found) if _overlaps(c, [d])]
        return max(near, key=lambda c: c.score) if near else None

    def faces_in_input(self, outs: list[npt.NDArray[np.float32]]) -> list[Detection]:
        """Detections from the outputs for one model-sized input, boxes in its pixels (how
        the quantizer compares a detector's builds on the same prepared frames)."""
        size = self.spec.size
        return self.decode(outs, Letterbox(1.0, 0.0, 0.0, size), size, size)

    def score_logits(self, outs: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        """Every anchor's raw face score from the model outputs."""
        return outs[self._score_out].ravel()

    def decode(self, outs: list[npt.NDArray[np.float32]], lb: Letterbox, w_img: int,
               h_img: int) -> list[Detection]:
        """Detections in frame pixels from the raw model outputs."""
        raw_scores = outs[self._score_out].reshape(-1)
        reg = outs[1 - self._score_out].reshape(-1, 16)
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -80.0, 80.0)))
        keep = scores >= self.min_score
        if not keep.any():
            return []
        reg, scores, anc = reg[keep], scores[keep], self.anchors[keep]
        s = float(self.spec.size)
        cx = reg[:, 0] / s + anc[:, 0]
        cy = reg[:, 1] / s + anc[:, 1]
        w, h = reg[:, 2] / s, reg[:, 3] / s
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)
        kps = (reg[:, 4:16].reshape(-1, 6, 2) / s + anc[:, None, :]).astype(np.float32)
        dets = []
        for box, score, kp in weighted_nms(boxes, scores.astype(np.float32), kps):
            corners = lb.to_frame(box.reshape(2, 2)).reshape(4)
            corners = np.clip(corners, 0, [w_img, h_img, w_img, h_img])
            if corners[2] - corners[0] < 2 or corners[3] - corners[1] < 2:
                continue
            dets.append(Detection(tuple(float(v) for v in corners),  # type: ignore[arg-type]
                                  score, lb.to_frame(kp)))
        return dets
