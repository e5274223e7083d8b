"""Voice activity detection: cheap when the room is silent.

Per 10 ms frame: log energy against an adaptive noise floor (a slow minimum
tracker) and spectral flatness (speech is tonal, noise is flat). A frame is
speech when it is 12 dB over the floor and not flat; segments open after 3
speech frames, close after `pause_s` of non-speech, and are cut at `max_s`. Each
segment carries `pad_s` of audio from before its first and after its last speech
frame (onsets and fading ends are quieter than the vowels the frame test catches).
Silence costs one RMS per frame; the FFT runs only on frames loud enough to
matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FRAME = 160  # 10 ms at 16 kHz


def speech_bounds(x: npt.NDArray[np.float32], drop_db: float = 35.0) -> tuple[int, int]:
    """First and last sample of the frames within `drop_db` of the loudest (offline trim)."""
    n = x.size // FRAME
    if n == 0:
        return 0, x.size
    e = 10 * np.log10(np.mean(x[:n * FRAME].reshape(n, FRAME) ** 2, axis=1) + 1e-12)
    keep = np.flatnonzero(e > e.max() - drop_db)
    return int(keep[0] * FRAME), int((keep[-1] + 1) * FRAME)


@dataclass
class Segmenter:
    """Streams 16 kHz audio; returns finished speech segments."""

    min_s: float = 0.8
    max_s: float = 6.0
    pause_s: float = 0.3
    threshold_db: float = 12.0
    flatness_max: float = 0.5
    floor_db: float = -70.0
    pad_s: float = 0.25
    _buf: list[npt.NDArray[np.float32]] = field(default_factory=list)
    _tail: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    _run: int = 0
    _quiet: int = 0
    _active: bool = False
    frames_seen: int = 0
    frames_speech: int = 0

    def reset(self) -> None:
        self._buf, self._tail = [], np.zeros(0, np.float32)
        self._run = self._quiet = 0
        self._active = False

    def _is_speech(self, frame: npt.NDArray[np.float32]) -> bool:
        e = 10.0 * float(np.log10(np.mean(frame * frame) + 1e-12))
        # the floor follows quiet frames quickly and loud ones very slowly
        self.floor_db += (0.05 if e < self.floor_db else 0.002) * (e - self.floor_db)
        if e < self.floor_db + self.threshold_db or e < -60.0:
            return False
        spec = np.abs(np.fft.rfft(frame * np.hanning(FRAME))) + 1e-9
        flatness = float(np.exp(np.mean(np.log(spec))) / np.mean(spec))
        return flatness < self.flatness_max

    def push(self, audio: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        x = np.concatenate([self._tail, audio.astype(np.float32)])
        n = x.size // FRAME
        self._tail = x[n * FRAME:]
        out: list[npt.NDArray[np.float32]] = []
        pad = round(self.pad_s * 16000 / FRAME)
        for i in range(n):
            frame = x[i * FRAME:(i + 1) * FRAME]
            self.frames_seen += 1
            speech = self._is_speech(frame)
            self.frames_speech += speech
            if self._active:
                self._buf.append(frame)
                self._quiet = 0 if speech else self._quiet + 1
                length = len(self._buf) * FRAME / 16000
                if self._quiet * FRAME / 16000 >= self.pause_s or length >= self.max_s:
                    drop = max(0, self._quiet - pad)
                    seg = np.concatenate(self._buf[:len(self._buf) - drop or None])
                    if seg.size / 16000 >= self.min_s:
                        out.append(seg)
                    self._buf, self._active, self._run, self._quiet = [], False, 0, 0
            else:
                self._run = self._run + 1 if speech else 0
                self._buf = [*self._buf[-(2 + pad):], frame]  # pre-roll + the run so far
                if self._run >= 3:
                    self._active = True
        return out
