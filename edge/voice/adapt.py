"""Online speaker (room) normalisation of the log-mel features, from past speech only.

Per-utterance mean removal (`features.normalise`) cancels the channel and the
speaker's timbre, but also the utterance's own spectral tilt, which carries
arousal (anger is brighter than sadness). This module keeps what the room's
voices sound like on average: the mean log-mel spectrum of the last `window`
utterances, the current one included. The model then sees each utterance's
deviation from that running mean, plus its own frame-to-frame detail — the
speaker's voice cancels, the emotion's tilt stays. It never looks at future
audio: with one utterance so far the offset is zero and the features are
exactly the per-utterance ones. Only 64 numbers per utterance are kept, in
memory, never written anywhere.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

WINDOW = 32
"""Utterances the running mean spans (about a few minutes of conversation)."""


class SpeakerAdaptation:
    """Running mean of utterance band means; `offset` returns this utterance's deviation."""

    def __init__(self, window: int = WINDOW) -> None:
        self._means: deque[npt.NDArray[np.float64]] = deque(maxlen=window)

    def reset(self) -> None:
        self._means.clear()

    @property
    def utterances(self) -> int:
        return len(self._means)

    def offset(self, utterance_mean: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """Add this utterance to the history and return utterance mean - running mean."""
        u = np.asarray(utterance_mean, dtype=np.float64)
        self._means.append(u)
        return (u - np.mean(self._means, axis=0)).astype(np.float32)


def session_order(speakers: list[str], seed: int = 0) -> list[list[int]]:
    """Indices of each speaker's utterances as one session (speakers in sorted order),
    each in a fixed pseudo-random order: a room hears emotions mixed, not sorted by a
    corpus's file names. Used by `affectd eval speech` and by training alike."""
    by: dict[str, list[int]] = {}
    for i, s in enumerate(speakers):
        by.setdefault(s, []).append(i)
    rng = np.random.default_rng(seed)
    return [[group[j] for j in rng.permutation(len(group))] for _, group in sorted(by.items())]


def with_offset(normalised: npt.NDArray[np.float32],
                offset: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Per-utterance-normalised log-mel frames shifted by the speaker offset."""
    return (normalised + offset[None, :]).astype(np.float32)


def training_offsets(utterance_means: npt.NDArray[np.float32], speakers: npt.NDArray[np.str_],
                     groups: npt.NDArray[np.int64], rng: np.random.Generator,
                     window: int = WINDOW) -> npt.NDArray[np.float32]:
    """Offsets as the online normaliser would produce them at a random point of a
    speaker's history: the mean over the utterance itself and k - 1 other utterances
    of the same speaker, k uniform in 1..window. `groups` identifies rows that are
    versions of one recording (they share the other utterances)."""
    out = np.zeros_like(utterance_means, dtype=np.float32)
    by_speaker: dict[str, list[int]] = {}
    firsts: dict[int, int] = {}
    for i, (s, g) in enumerate(zip(speakers, groups, strict=True)):
        if int(g) not in firsts:
            firsts[int(g)] = i
            by_speaker.setdefault(str(s), []).append(i)
    for i, (s, g) in enumerate(zip(speakers, groups, strict=True)):
        pool = [j for j in by_speaker[str(s)] if j != firsts[int(g)]]
        k = int(rng.integers(1, window + 1))
        others: list[int] = (rng.choice(pool, size=min(k - 1, len(pool)), replace=False).tolist()
                             if pool else [])
        m = (utterance_means[i] + utterance_means[others].sum(0)) / (1 + len(others))
        out[i] = utterance_means[i] - m
    return out
