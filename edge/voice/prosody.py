"""Prosody: how an utterance is spoken — pitch, its movement, loudness, rhythm, voice
quality — as 16 numbers, and the small model that reads emotion from them.

The emotion network reads the log-mel spectrogram and learns whatever separates its
training corpora's labels, much of it language and recording; pitch level and range,
how fast the voice moves, how loud the peaks are against the rest, how often voicing
starts (speaking rate) and the balance of low and high bands (vocal effort) are what
carries emotion across languages and recordings. `PROSODY_FEATURES` are computed
from the segment's pitch track (YIN, `edge.voice.pitch`) and the
spectrograms the voice path has anyway, each relative to the room's recent voices (`RoomProsody`:
the running mean of the last utterances' features, past and present only, in memory):
a high voice is not an excited one, a voice higher than its own usual is.

`ProsodyHead` (model `speech_prosody`, `models/speech_prosody.json`, fitted by
`models/training/speech_prosody.py`) is a standardised multinomial logistic
regression over them. `edge.voice.analyzer.SpeechEmotionModel` adds its log
probabilities to the network's (weight `network_weight` for the network) and,
with `prior="everyday"`, the log of an everyday prior over the labels: acted corpora
hold every emotion equally often, a room does not — most speech there is neutral,
and disgust or fear are rare — so the everyday output leans that way (strength
`prior_strength`, chosen with the weight on the leave-one-corpus-out folds).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.voice.adapt import SpeakerAdaptation
from edge.voice.pitch import HOP, PitchTrack, voicing

F64 = npt.NDArray[np.float64]
MODEL_ID = "speech_prosody"
SAMPLE_RATE = 16000
PROSODY_FEATURES = (
    "pitch_octave", "pitch_range_octaves", "pitch_p10_octave", "pitch_p90_octave",
    "pitch_step_octaves", "pitch_slope_octaves_per_s", "energy_step_db",
    "voiced_energy_sd_db", "energy_peak_db", "voicing_onsets_per_s", "voiced_share",
    "periodicity", "alpha_ratio_db", "hammarberg_db", "low_balance_db", "centroid_khz")
PRIORS = ("everyday", "uniform")
"""What the voice output assumes about how often each emotion is spoken (`ProsodyHead`)."""


def prosody_features(track: PitchTrack, lm: npt.NDArray[np.float32],
                     power: npt.NDArray[np.float32]) -> F64:
    """`PROSODY_FEATURES` of one utterance from its pitch track (`edge.voice.pitch`:
    YIN on 32-ms frames every 20 ms, every other spectrogram frame), its (frames, 64)
    natural-log mel spectrogram and its power spectrogram (`edge.voice.features`). A
    frame within 25 dB of the loud end and periodic is voiced. With fewer than 5
    voiced frames the pitch, energy and rhythm entries are 0."""
    v = voicing(track, lm, power)
    f0, aperiodic, e_db, p, loud, voiced = (v.f0, v.aperiodicity, v.energy_db, v.power,
                                            v.loud, v.voiced)
    n = f0.size
    rate = SAMPLE_RATE / HOP
    f = np.zeros(len(PROSODY_FEATURES))
    if voiced.sum() >= 5:
        octave = np.log2(f0)
        ov = octave[voiced]
        p10, p50, p90 = np.percentile(ov, [10.0, 50.0, 90.0])
        both = voiced[1:] & voiced[:-1]
        step = np.diff(octave)[both]
        step = step[np.abs(step) < 0.25]  # an octave error is not a movement
        at = np.flatnonzero(voiced) / rate
        slope = float(np.polyfit(at, ov, 1)[0]) if np.ptp(at) > 0 else 0.0
        de = np.diff(e_db)[both]
        onsets = float(np.sum(voiced[1:] & ~voiced[:-1]))
        f[:12] = [p50, p90 - p10, p10, p90, np.abs(step).mean() if step.size else 0.0, slope,
                  np.abs(de).mean() if de.size else 0.0, e_db[voiced].std(),
                  np.percentile(e_db[voiced], 95.0) - np.median(e_db[loud]),
                  onsets / (n / rate), voiced.mean(), 1.0 - np.median(aperiodic[voiced])]
    sel = voiced if voiced.sum() >= 5 else loud
    spectrum = p[sel].mean(axis=0) + 1e-12
    hz = np.linspace(0.0, SAMPLE_RATE / 2.0, p.shape[1])

    def band(a: float, b: float) -> float:
        return float(spectrum[(hz >= a) & (hz < b)].sum())

    f[12] = 10.0 * math.log10(band(50.0, 1000.0) / band(1000.0, 5000.0))
    f[13] = 10.0 * math.log10(float(spectrum[hz < 2000.0].max())
                              / float(spectrum[(hz >= 2000.0) & (hz < 5000.0)].max()))
    f[14] = 10.0 * math.log10(band(0.0, 500.0) / band(500.0, 1500.0))
    f[15] = float(((p[sel] @ hz) / (p[sel].sum(axis=1) + 1e-12)).mean() / 1000.0)
    return f


class RoomProsody(SpeakerAdaptation):
    """The room's running mean over the last `window` utterances (`edge.voice.adapt`'s,
    here of prosody); `relative` returns this utterance's deviation from it (this
    utterance included: the first one gives 0)."""

    def relative(self, features: F64) -> F64:
        return self.offset(features).astype(np.float64)


@dataclass(frozen=True)
class ProsodyHead:
    """Standardised multinomial logistic regression over room-relative prosody."""

    labels: tuple[str, ...]
    mean: F64
    scale: F64
    weights: F64
    """(labels, features) coefficients."""
    bias: F64
    network_weight: float
    """Weight of the network's log probabilities; the head's is 1 - this."""
    everyday_prior: F64
    """How often each label is assumed spoken in everyday life (sums to 1)."""
    prior_strength: float
    """Exponent of `everyday_prior` in the everyday output (0: none, 1: the full prior)."""

    def log_probs(self, relative: F64) -> F64:
        z = self.weights @ ((np.asarray(relative) - self.mean) / self.scale) + self.bias
        z = z - z.max()
        return np.asarray(z - math.log(float(np.exp(z).sum())), dtype=np.float64)

    def log_prior(self, prior: str) -> F64:
        """Log prior added to the combined output: 0 for `uniform`."""
        if prior not in PRIORS:
            raise ValueError(f"prior {prior!r} is not one of {PRIORS}")
        if prior == "uniform":
            return np.zeros(len(self.labels))
        return np.asarray(self.prior_strength * np.log(self.everyday_prior), dtype=np.float64)

    def to_json(self, extra: dict[str, object]) -> str:
        def r(a: F64) -> list[object]:
            return list(np.round(np.asarray(a, dtype=np.float64), 8).tolist())

        return json.dumps({"kind": "multinomial_logistic_regression",
                           "features": list(PROSODY_FEATURES), "labels": list(self.labels),
                           "mean": r(self.mean), "scale": r(self.scale),
                           "weights": r(self.weights), "bias": r(self.bias),
                           "network_weight": self.network_weight,
                           "everyday_prior": r(self.everyday_prior),
                           "prior_strength": self.prior_strength, **extra}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> ProsodyHead:
        """Raises ValueError (or KeyError) on a file this version cannot run."""
        d = json.loads(text)
        if list(d.get("features", [])) != list(PROSODY_FEATURES):
            raise ValueError("the prosody head's features are not the ones this version computes")
        labels = tuple(str(x) for x in d["labels"])
        n, k = len(labels), len(PROSODY_FEATURES)
        arr = {key: np.asarray(d[key], dtype=np.float64)
               for key in ("mean", "scale", "weights", "bias", "everyday_prior")}
        shapes = {"mean": (k,), "scale": (k,), "weights": (n, k), "bias": (n,),
                  "everyday_prior": (n,)}
        for key, shape in shapes.items():
            if arr[key].shape != shape or not np.all(np.isfinite(arr[key])):
                raise ValueError(f"the prosody head's {key} is malformed")
        if np.any(arr["scale"] <= 0) or np.any(arr["everyday_prior"] <= 0):
            raise ValueError("the prosody head's scales and prior must be positive")
        w, s = float(d["network_weight"]), float(d["prior_strength"])
        if not (0.0 <= w <= 1.0 and 0.0 <= s <= 1.0):
            raise ValueError("the prosody head's network_weight or prior_strength is malformed")
        return cls(labels, arr["mean"], arr["scale"], arr["weights"], arr["bias"], w,
                   arr["everyday_prior"] / arr["everyday_prior"].sum(), s)

    @classmethod
    def from_registry(cls, models_dir: Path | None = None) -> ProsodyHead:
        """The shipped head, sha256-checked (`edge.registry`)."""
        from edge.registry import Registry

        return cls.from_json(Registry(models_dir).verify(MODEL_ID).read_text("utf-8"))
