"""Map emotion probabilities to valence and arousal (Russell's circumplex).

Coordinates per label are the category centroids of the circumplex as used in
affective-computing practice (e.g. the AffectNet valence/arousal annotations
averaged per category, rounded): happy is positive and moderately aroused,
sad negative and calm, angry/fear negative and aroused, surprise neutral-positive
and highly aroused, disgust negative and mildly aroused, neutral at the origin.
Valence and arousal are the probability-weighted mean of the centroids.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.messages import EMOTIONS

CENTROIDS: dict[str, tuple[float, float]] = {
    "angry": (-0.51, 0.59),
    "disgust": (-0.60, 0.35),
    "fear": (-0.64, 0.60),
    "happy": (0.76, 0.48),
    "neutral": (0.0, 0.0),
    "sad": (-0.63, -0.27),
    "surprise": (0.40, 0.67),
}
"""(valence, arousal) per label, both in [-1, 1]."""


def valence_arousal(probs: Sequence[float]) -> tuple[float, float]:
    """Return (valence, arousal) for probabilities ordered as `EMOTIONS`."""
    if len(probs) != len(EMOTIONS):
        raise ValueError(f"expected {len(EMOTIONS)} probabilities, got {len(probs)}")
    total = float(sum(probs)) or 1.0
    v = sum(p * CENTROIDS[k][0] for k, p in zip(EMOTIONS, probs, strict=True)) / total
    a = sum(p * CENTROIDS[k][1] for k, p in zip(EMOTIONS, probs, strict=True)) / total
    return float(v), float(a)
