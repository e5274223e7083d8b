"""Pitch in numpy: the YIN estimator (de Cheveigne & Kawahara 2002) as librosa
implements it, and frame energy as `librosa.feature.rms`.

`yin`: centred frames zero-padded at the ends, the cumulative mean normalised
difference from an FFT autocorrelation, the first trough under the threshold (else
the global minimum), parabolic refinement — so `f0` equals `librosa.yin` for the same
arguments (a test checks it). It also returns each frame's aperiodicity (the
normalised difference at the chosen period): a frame under `VOICING_THRESHOLD` is
periodic, i.e. voiced. Written here rather than taken from librosa, which brings
numba and scipy onto a Pi for one function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
VOICING_THRESHOLD = 0.25


def _frames(y: F64, frame_length: int, hop: int) -> F64:
    padded = np.pad(np.asarray(y, dtype=np.float64), (frame_length // 2, frame_length // 2))
    return np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop]


def rms(y: F64, frame_length: int = 2048, hop: int = 512) -> F64:
    f = _frames(y, frame_length, hop)
    return np.asarray(np.sqrt(np.mean(f * f, axis=1)), dtype=np.float64)


def yin(y: F64, fmin: float, fmax: float, sr: int, frame_length: int = 2048,
        hop: int | None = None, threshold: float = 0.1) -> tuple[F64, F64]:
    """(f0 in Hz, aperiodicity) per frame."""
    hop = hop or frame_length // 4
    frames = _frames(y, frame_length, hop)  # (n_frames, frame_length)
    min_p = int(np.floor(sr / fmax))
    max_p = min(int(np.ceil(sr / fmin)), frame_length - 1)
    n_fft = 1 << (2 * frame_length - 1).bit_length()
    spec = np.fft.rfft(frames, n_fft, axis=1)
    acf = np.fft.irfft(spec * spec.conj(), n_fft, axis=1)[:, : max_p + 1]
    energy = np.cumsum(frames * frames, axis=1)
    diff = np.zeros((frames.shape[0], max_p + 1))
    diff[:, 1:] = 2 * (acf[:, :1] - acf[:, 1:]) - energy[:, :max_p]
    cum = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, max_p + 1)
    tiny = np.finfo(np.float64).tiny
    cmnd = diff[:, min_p:max_p + 1] / (cum[:, min_p - 1:max_p] + tiny)
    # parabolic shifts, 0 at the ends or when the optimum is more than a bin away
    a = cmnd[:, 2:] + cmnd[:, :-2] - 2 * cmnd[:, 1:-1]
    b = (cmnd[:, 2:] - cmnd[:, :-2]) / 2
    shift = np.zeros_like(cmnd)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift[:, 1:-1] = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a)
    trough = np.zeros_like(cmnd, dtype=bool)
    trough[:, 1:-1] = (cmnd[:, 1:-1] < cmnd[:, :-2]) & (cmnd[:, 1:-1] <= cmnd[:, 2:])
    trough[:, 0] = cmnd[:, 0] < cmnd[:, 1]
    trough[:, -1] = cmnd[:, -1] < cmnd[:, -2]
    below = trough & (cmnd < threshold)
    period = np.where(below.any(axis=1), np.argmax(below, axis=1), np.argmin(cmnd, axis=1))
    rows = np.arange(cmnd.shape[0])
    f0 = sr / (min_p + period + shift[rows, period])
    return f0, cmnd[rows, period]


PITCH_HZ = (65.0, 400.0)
"""Pitch search range of a talking adult (a wider one lets YIN jump an octave up more
often)."""
FRAME = 512
HOP = 320
"""32-ms frames every 20 ms: every other frame of the 10-ms spectrogram."""


@dataclass(frozen=True)
class PitchTrack:
    """YIN pitch of a segment, one value per `HOP` samples."""

    f0: F64
    """Hz per frame (meaningless where `aperiodicity` is high)."""
    aperiodicity: F64
    """0 (perfectly periodic) ... 1; voiced under `VOICING_THRESHOLD`."""


def pitch_track(audio: npt.NDArray[np.floating], sample_rate: int = 16000) -> PitchTrack:
    """The segment's `PitchTrack` (read by the prosody head)."""
    f0, aperiodic = yin(np.asarray(audio, dtype=np.float64), PITCH_HZ[0], PITCH_HZ[1],
                        sample_rate, FRAME, HOP)
    return PitchTrack(f0, aperiodic)


@dataclass(frozen=True)
class Voicing:
    """A pitch track aligned with the segment's spectrogram frames (every other one)."""

    f0: F64
    aperiodicity: F64
    energy_db: F64
    """Frame energy (dB) of the aligned spectrogram frames."""
    power: F64
    """The aligned power spectrogram frames."""
    loud: npt.NDArray[np.bool_]
    """Within 25 dB of the segment's loud end (its 90th energy percentile)."""
    voiced: npt.NDArray[np.bool_]
    """Loud and periodic (aperiodicity under `VOICING_THRESHOLD`)."""


def voicing(track: PitchTrack, lm: npt.NDArray[np.floating],
            power: npt.NDArray[np.floating]) -> Voicing:
    """`track` against the segment's (frames, 64) natural-log mel and power
    spectrograms (10-ms hop, `edge.voice.features`)."""
    e_all = 10.0 * np.log10(np.exp(np.asarray(lm, dtype=np.float64)).sum(axis=1) + 1e-9)
    step = HOP // 160  # spectrogram frames per pitch frame
    n = min(track.f0.size, -(-e_all.size // step))
    e_db = e_all[::step][:n]
    loud = e_db > np.percentile(e_all, 90.0) - 25.0
    aperiodic = track.aperiodicity[:n]
    return Voicing(track.f0[:n], aperiodic, e_db,
                   np.asarray(power, dtype=np.float64)[::step][:n], loud,
                   loud & (aperiodic < VOICING_THRESHOLD))
