"""`affectd bench vad`: what the voice-activity detector lets through, side by side with
WebRTC's VAD (the `webrtcvad-wheels` build of Google's WebRTC VAD, a maintained peer).

Both run through the daemon's own segmenter (`edge.voice.vad.Segmenter`: 10-ms frames,
a segment opens after 3 speech frames, closes after 0.3 s of pause, keeps 0.25 s of audio
either side, is kept from 0.8 s),
only the per-frame decision differs, so what is measured is what the emotion network
would be handed; `ours_gated` adds the daemon's speech gate after the segmenter (what
the daemon really scores):

- non-speech (`<data>/nonspeech/`: music, noise, household, environment, baby cries),
  per category: seconds of audio, seconds inside accepted segments (share), segments
  per minute; `music_vocal/` (singing: a voice, but not speech) reported apart;
- speech (`<data>/speech/`: RAVDESS and EmoDB clips, every `--stride`-th): the share of
  each clip's spoken part (from its first to its last loud frame) inside segments;
- cost: seconds of processing per second of audio (RTF, one thread) on speech and on
  silence.

Audio is fed in 100-ms chunks, as a microphone delivers it; every file starts a fresh
segmenter and ends with 0.5 s of silence so the last segment closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.voice.features import log_mel_of_power, power_spectrogram
from edge.voice.speechness import SpeechGate
from edge.voice.vad import FRAME, Segmenter, speech_bounds

RATE = 16000
CHUNK = RATE // 10
NONSPEECH = ("music", "noise", "household", "environment", "human_nonspeech")


@dataclass
class WebRtcSegmenter(Segmenter):
    """The daemon's segmenter with WebRTC's frame decision instead of its own."""

    aggressiveness: int = 3

    def __post_init__(self) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(self.aggressiveness)

    def _is_speech(self, frame: npt.NDArray[np.float32]) -> bool:
        pcm = (np.clip(frame, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        return bool(self._vad.is_speech(pcm, RATE))


@dataclass
class GatedSegmenter(Segmenter):
    """The daemon's segmenter followed by its speech gate (`edge.voice.speechness`): the
    segments that reach the emotion network."""

    gate: SpeechGate | None = None

    def push(self, audio: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        got = super().push(audio)
        if self.gate is None:
            return got
        out = []
        for s in got:
            power = power_spectrogram(s)
            if self.gate.is_speech(log_mel_of_power(power), power):
                out.append(s)
        return out


def read_16k(path: Path) -> npt.NDArray[np.float32]:
    import soundfile as sf

    from edge.dsp import Resampler

    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = x.mean(axis=1)
    if rate != RATE:
        mono = Resampler(int(rate), RATE)(mono)
    return np.asarray(mono, dtype=np.float32)


def accepted_seconds(make: Callable[[], Segmenter], audio: npt.NDArray[np.float32]
                     ) -> tuple[float, int]:
    """(seconds inside segments, segments) of one recording."""
    seg = make()
    x = np.concatenate([audio, np.zeros(RATE // 2, np.float32)])
    got = []
    for k in range(0, x.size, CHUNK):
        got += seg.push(x[k:k + CHUNK])
    # a segment may run into the silence appended to close it: count the recording only
    return min(audio.size, sum(g.size for g in got)) / RATE, len(got)


def _rtf(make: Callable[[], Segmenter], audio: npt.NDArray[np.float32]) -> float:
    seg = make()
    t0 = time.perf_counter()
    for k in range(0, audio.size, CHUNK):
        seg.push(audio[k:k + CHUNK])
    return (time.perf_counter() - t0) / (audio.size / RATE)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".flac", ".wav"))


def bench_vad(data: Path, stride: int = 4) -> dict[str, Any]:
    gate = SpeechGate.from_registry()
    peers: dict[str, Callable[[], Segmenter]] = {
        "ours": Segmenter, "ours_gated": lambda: GatedSegmenter(gate=gate)}
    try:
        import webrtcvad  # noqa: F401

        peers["webrtcvad"] = WebRtcSegmenter
    except ImportError:
        pass
    cats = {c: [read_16k(p) for p in files_under(data / "nonspeech" / c)]
            for c in (*NONSPEECH, "music_vocal") if (data / "nonspeech" / c).is_dir()}
    if not any(cats.values()):
        raise FileNotFoundError(f"{data}/nonspeech: no audio files")
    speech_files = files_under(data / "speech")[::stride]
    if not speech_files:
        raise FileNotFoundError(f"{data}/speech: no audio files")
    speech = [read_16k(p) for p in speech_files]
    spoken = [speech_bounds(x) for x in speech]
    out: dict[str, Any] = {"speech_clips": len(speech),
                           "nonspeech_files": {c: len(v) for c, v in cats.items()}}
    for name, make in peers.items():
        r: dict[str, Any] = {}
        total_s = total_acc = total_segs = 0.0
        for cat, clips in cats.items():
            secs = sum(x.size for x in clips) / RATE
            acc = [accepted_seconds(make, x) for x in clips]
            a, n = sum(v for v, _ in acc), sum(k for _, k in acc)
            r[cat] = {"seconds": round(secs, 1), "accepted_s": round(a, 1),
                      "share": round(a / secs, 4), "segments_per_min": round(60 * n / secs, 2)}
            if cat != "music_vocal":
                total_s, total_acc, total_segs = total_s + secs, total_acc + a, total_segs + n
        r["nonspeech"] = {"seconds": round(total_s, 1), "accepted_s": round(total_acc, 1),
                          "share": round(total_acc / total_s, 4),
                          "segments_per_min": round(60 * total_segs / total_s, 2)}
        kept = said = 0.0
        for x, (a, b) in zip(speech, spoken, strict=True):
            said += (b - a) / RATE
            kept += min((b - a) / RATE, accepted_seconds(make, x)[0])
        r["speech"] = {"seconds": round(said, 1), "kept_s": round(kept, 1),
                       "recall": round(kept / said, 4)}
        joined = np.concatenate(speech[:40])
        quiet = np.random.default_rng(0).normal(0, 1e-4, RATE * 30).astype(np.float32)
        r["rtf_speech"] = round(min(_rtf(make, joined) for _ in range(3)), 5)
        r["rtf_silence"] = round(min(_rtf(make, quiet) for _ in range(3)), 6)
        out[name] = r
    out["frame_ms"] = 1000 * FRAME / RATE
    return out


def vad_lines(r: dict[str, Any]) -> list[str]:
    lines = []
    for name in ("ours", "ours_gated", "webrtcvad"):
        if name not in r:
            continue
        v = r[name]
        lines.append(f"{name}: non-speech accepted {100 * v['nonspeech']['share']:.1f} % of "
                     f"{v['nonspeech']['seconds']:.0f} s ({v['nonspeech']['segments_per_min']:.1f}"
                     f" segments/min); singing {100 * v.get('music_vocal', {}).get('share', 0):.1f}"
                     f" %; speech kept {100 * v['speech']['recall']:.1f} %; RTF speech "
                     f"{v['rtf_speech']:.5f}, silence {v['rtf_silence']:.6f}")
        lines += [f"  {c}: {100 * v[c]['share']:.1f} % of {v[c]['seconds']:.0f} s"
                  for c in (*NONSPEECH, "music_vocal") if c in v]
    return lines
