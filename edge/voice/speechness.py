"""Is a segment the VAD cut speech? The gate between the VAD and the emotion network.

The frame-level VAD (`edge.voice.vad`) says "loud and not flat", which music, a TV,
running water and a crying baby all are. This gate looks at the whole segment, on
the log-mel spectrogram the emotion network reads anyway, for what speech has and
those sounds lack: an energy envelope that comes and goes at the syllable rate
(2.5-8 Hz) with pauses between, a spectrum whose shape keeps changing (vowels,
fricatives, stops in turn) and whose balance of low and high bands swings with them;
and, from the power spectrum's cepstrum, a pitch in the range of a talking adult that
glides rather than holding notes (singing) or sitting an octave up (a baby's cry).
`GATE_FEATURES` are those statistics; a logistic model over them
(`models/speech_gate.json`, fitted by `models/training/speech_gate.py` on ../shared's
speech clips, clean, in synthetic noise and babble, and over music, household and
environment sounds — speech with a TV on is still speech — against its non-speech
audio) gives the probability that the segment is speech. Below its threshold the segment
is dropped: no emotion estimate, counted in `stats` as rejected.

Singing is a voice but not speech; the gate mostly rejects it (the emotion network
was trained on speech and has nothing to say about a song). Cost: a few numpy
passes over the segment's log-mel, which the network needs anyway.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
MODEL_ID = "speech_gate"
FRAME_RATE = 100.0  # log-mel frames per second (10 ms hop)
GATE_FEATURES = ("energy_sd_db", "energy_range_db", "low_energy_share", "syllable_modulation",
                 "flux", "flux_cv", "band_sd_low", "band_sd_mid", "band_sd_high",
                 "centroid", "centroid_sd", "peakiness", "peakiness_sd", "tilt_sd", "tilt",
                 "pitch_octave", "pitch_sd_octaves", "pitch_steady_share", "cepstral_peak",
                 "voiced_share")
SAMPLE_RATE = 16000
PITCH_HZ = (70.0, 800.0)


def _moving_average_bins(lm: F64, width: int) -> F64:
    """Each frame's log-mel smoothed across `width` neighbouring bins (zero-padded at the
    ends, as a 'same' convolution)."""
    half = width // 2
    c = np.cumsum(np.pad(lm, ((0, 0), (half + 1, half))), axis=1)
    return (c[:, width:] - c[:, :-width]) / width


def pitch_features(power: npt.NDArray[np.float32]) -> F64:
    """From the power spectrogram (frames, bins): the median pitch (log2 Hz) of the voiced
    frames (loud, with a cepstral peak over 0.1 between `PITCH_HZ`), its spread in
    octaves, the share of frame-to-frame steps under 1/50 octave (held notes), the
    median cepstral peak, and the share of voiced frames."""
    p = np.asarray(power, dtype=np.float64)
    energy = p.sum(axis=1)
    loud = energy > 0.1 * np.median(energy[energy > 0]) if np.any(energy > 0) else energy > 0
    cep = np.fft.irfft(np.log(p + 1e-10), axis=1)
    lo, hi = int(SAMPLE_RATE / PITCH_HZ[1]), int(SAMPLE_RATE / PITCH_HZ[0])
    q = cep[:, lo:hi]
    peak = q.max(axis=1)
    voiced = loud & (peak > 0.1)
    if voiced.sum() < 3:
        return np.array([0.0, 0.0, 0.0, 0.0, float(voiced.mean())])
    octave = np.log2(SAMPLE_RATE / (lo + q.argmax(axis=1)[voiced]))
    return np.array([float(np.median(octave)), float(octave.std()),
                     float((np.abs(np.diff(octave)) < 0.02).mean()),
                     float(np.median(peak[voiced])), float(voiced.mean())])


def gate_features(lm: npt.NDArray[np.float32], power: npt.NDArray[np.float32]) -> F64:
    """`GATE_FEATURES` of one segment from its (frames, 64) natural-log mel spectrogram
    and the power spectrogram it was made from (`edge.voice.features`)."""
    lm64 = np.asarray(lm, dtype=np.float64)
    t = lm64.shape[0]
    lin = np.exp(lm64)
    total = lin.sum(axis=1) + 1e-9
    e_db = 10.0 * np.log10(total)
    p10, p90 = np.percentile(e_db, [10.0, 90.0])
    rms = np.sqrt(total)
    z = e_db - e_db.mean()
    n = 1 << max(6, math.ceil(math.log2(max(t, 2))))
    mod = np.abs(np.fft.rfft(z * np.hanning(t), n)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / FRAME_RATE)
    syllable = float(mod[(freqs >= 2.5) & (freqs <= 8.0)].sum()
                     / (mod[(freqs >= 0.5) & (freqs <= 25.0)].sum() + 1e-12))
    shape = lm64 - lm64.mean(axis=1, keepdims=True)
    step = np.sqrt((np.diff(shape, axis=0) ** 2).mean(axis=1)) if t > 1 else np.zeros(1)
    sd = lm64.std(axis=0)
    weights = lin / total[:, None]
    centroid = weights @ np.arange(lm64.shape[1], dtype=np.float64)
    peak = (lm64 - _moving_average_bins(lm64, 5))[:, 2:-2].std(axis=1)
    tilt = (np.log(lin[:, :24].sum(axis=1) + 1e-9) - np.log(lin[:, 40:].sum(axis=1) + 1e-9))
    return np.array([
        e_db.std(), p90 - p10, float((rms < 0.5 * rms.mean()).mean()), syllable,
        step.mean(), step.std() / (step.mean() + 1e-9),
        sd[:16].mean(), sd[16:40].mean(), sd[40:].mean(),
        centroid.mean(), centroid.std(), peak.mean(), peak.std(), tilt.std(), tilt.mean(),
        *pitch_features(power)])


@dataclass(frozen=True)
class SpeechGate:
    """Standardised logistic regression over `GATE_FEATURES`."""

    mean: F64
    scale: F64
    weights: F64
    bias: float
    threshold: float
    """Probability at or above which a segment is taken as speech."""

    def probability(self, lm: npt.NDArray[np.float32], power: npt.NDArray[np.float32]) -> float:
        return self.probability_of(gate_features(lm, power))

    def probability_of(self, features: F64) -> float:
        """The speech probability of already computed `GATE_FEATURES`."""
        z = float(np.dot(self.weights, (features - self.mean) / self.scale)) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def is_speech(self, lm: npt.NDArray[np.float32], power: npt.NDArray[np.float32]) -> bool:
        return self.probability(lm, power) >= self.threshold

    def confidence(self, p: float) -> float:
        """How sure the gate is that a segment of speech probability `p` is speech, in
        [0, 1]: 0 at the threshold and below, 1 from halfway between it and 1. The voice
        estimate's quality is scaled by it, so a segment that barely passed (speech
        under loud music, an odd sound) weighs little in fusion."""
        return float(min(1.0, max(0.0, 2.0 * (p - self.threshold) / (1.0 - self.threshold))))

    def to_json(self, extra: dict[str, object]) -> str:
        return json.dumps({"kind": "logistic_regression", "features": list(GATE_FEATURES),
                           "mean": [round(float(v), 8) for v in self.mean],
                           "scale": [round(float(v), 8) for v in self.scale],
                           "weights": [round(float(v), 8) for v in self.weights],
                           "bias": round(self.bias, 8), "threshold": self.threshold, **extra},
                          indent=1)

    @classmethod
    def from_json(cls, text: str) -> SpeechGate:
        """Raises ValueError (or KeyError) on a file this version cannot run."""
        d = json.loads(text)
        if list(d.get("features", [])) != list(GATE_FEATURES):
            raise ValueError("the gate's features are not the ones this version computes")
        arrays = [np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
        if any(a.shape != (len(GATE_FEATURES),) or not np.all(np.isfinite(a)) for a in arrays):
            raise ValueError("the gate's arrays are malformed")
        if np.any(arrays[1] <= 0):
            raise ValueError("the gate's scales must be positive")
        bias, threshold = float(d["bias"]), float(d["threshold"])
        if not (math.isfinite(bias) and 0.0 < threshold < 1.0):
            raise ValueError("the gate's bias or threshold is malformed")
        return cls(arrays[0], arrays[1], arrays[2], bias, threshold)

    @classmethod
    def from_registry(cls, models_dir: Path | None = None) -> SpeechGate:
        """The shipped gate, sha256-checked (`edge.registry`)."""
        from edge.registry import Registry

        return cls.from_json(Registry(models_dir).verify(MODEL_ID).read_text("utf-8"))
