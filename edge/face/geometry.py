"""Per-track face geometry: the face mesh on faces that pass the quality gate, at most
every `mesh_every` frames per track; head pose for the gate; action units against
the track's own neutral frames.

Everything here lives as long as its track and holds no image: a neutral face is
one running sum per distance (`TrackNeutral`), the last pose three angles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.face.action_units import Population, TrackNeutral, intensities, measure
from edge.face.detector import Detection
from edge.face.headpose import HeadPose, head_pose
from edge.face.mesh import FaceMesh
from edge.settings import FaceSettings


@dataclass
class TrackGeometry:
    """What the mesh last said about one track's face."""

    neutral: TrackNeutral
    pose: HeadPose | None = None
    aus: dict[str, float] | None = None
    since: int = 0
    """Frames since the mesh last ran on this track."""
    ran: bool = field(default=False)


class FaceGeometry:
    """Runs the mesh where it is due and keeps each track's geometry."""

    def __init__(self, mesh: FaceMesh, population: Population, settings: FaceSettings) -> None:
        self.mesh = mesh
        self.population = population
        self.settings = settings
        self._tracks: dict[int, TrackGeometry] = {}
        self.runs = 0
        """Mesh invocations so far (for `affectd bench vision`)."""

    def forget(self, alive: set[int]) -> None:
        """Drop the geometry (and neutral face) of every track no longer alive."""
        for tid in list(self._tracks):
            if tid not in alive:
                del self._tracks[tid]

    def update(self, track: int, image: npt.NDArray[np.uint8], det: Detection,
               gate_quality: float, neutral_now: bool) -> TrackGeometry:
        """This frame's geometry of `track`: the mesh runs when the face passes the gate
        (`gate_quality` >= `mesh_min_quality`) and `mesh_every` frames have passed since
        it last ran on this track; otherwise the last reading stands. `neutral_now`: the
        track currently reads as neutral, so its measures feed its neutral face."""
        g = self._tracks.get(track)
        if g is None:
            g = self._tracks[track] = TrackGeometry(TrackNeutral(self.population))
        else:
            g.since += 1
        due = not g.ran or g.since >= self.settings.mesh_every
        if not due or gate_quality < self.settings.mesh_min_quality:
            return g
        g.ran, g.since = True, 0
        self.runs += 1
        mesh = self.mesh.run(image, det)
        if mesh is None:
            g.pose, g.aus = None, None
            return g
        h, w = image.shape[:2]
        g.pose = head_pose(mesh.points, w, h)
        values = measure(mesh.points)
        frontal = g.pose is not None and g.pose.frontal(self.settings.max_yaw_deg,
                                                        self.settings.max_pitch_deg) > 0.5
        if neutral_now and frontal:
            g.neutral.observe(values)
        g.aus = intensities(values, g.neutral.neutral(), self.population)
        return g
