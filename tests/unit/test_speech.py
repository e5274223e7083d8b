"""The voice path: features against librosa, VAD on silence, noise and voiced sound,
label parsing of both corpora."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.lab.corpora import parse_clip, scan
from edge.voice.features import log_mel, mel_filterbank
from edge.voice.vad import Segmenter, speech_bounds


def voiced(seconds: float, f0: float = 130.0, seed: int = 0) -> np.ndarray:
    """A harmonic sound with a moving pitch and syllable-like amplitude envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / 16000
    x = sum(np.sin(h * phase) / h for h in range(1, 12))
    env = 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 2.5 * t))
    return (0.2 * x * env + rng.normal(0, 0.002, t.size)).astype(np.float32)


def test_log_mel_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    x = voiced(1.3)
    ref = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=512, hop_length=160,
                                         win_length=400, n_mels=64, power=2.0)
    np.testing.assert_allclose(log_mel(x), np.log(np.maximum(ref, 1e-6)).T, atol=1e-3)
    np.testing.assert_allclose(mel_filterbank(), librosa.filters.mel(sr=16000, n_fft=512,
                                                                     n_mels=64), atol=1e-6)


def feed(seg: Segmenter, audio: np.ndarray) -> list[np.ndarray]:
    out = []
    for i in range(0, audio.size, 1600):
        out += seg.push(audio[i:i + 1600])
    return out


def test_vad_silence_and_steady_noise_give_no_segment() -> None:
    rng = np.random.default_rng(1)
    assert feed(Segmenter(), np.zeros(16000 * 5, np.float32)) == []
    noise = rng.normal(0, 0.05, 16000 * 8).astype(np.float32)  # loud but flat
    assert feed(Segmenter(), noise) == []


def test_vad_cuts_utterances_at_pauses_and_caps_length() -> None:
    pause = np.zeros(8000, np.float32)
    audio = np.concatenate([pause, voiced(1.5), pause, voiced(2.0, 180), pause,
                            voiced(0.3), pause, voiced(9.0), pause])
    segs = feed(Segmenter(min_s=0.8, max_s=6.0, pause_s=0.3, pad_s=0.0), audio)
    lengths = [round(s.size / 16000, 1) for s in segs]
    assert len(segs) == 4, lengths  # the 0.3 s blip is too short; 9 s is cut at 6 s
    assert 1.3 <= lengths[0] <= 1.7 and 1.8 <= lengths[1] <= 2.2
    assert lengths[2] == 6.0 and 2.5 <= lengths[3] <= 3.3
    # the default keeps 0.25 s of audio either side of an utterance (quiet onsets, fading
    # ends); the 0.3 s blip plus that padding still stays under min_s
    padded = feed(Segmenter(min_s=1.0, max_s=6.0, pause_s=0.3), audio)
    got = [round(s.size / 16000, 1) for s in padded]
    assert len(padded) == 4, got
    assert 1.8 <= got[0] <= 2.2 and 2.3 <= got[1] <= 2.7 and got[2] == 6.0, got


def test_speech_bounds_trims_silence() -> None:
    x = np.concatenate([np.zeros(8000, np.float32), voiced(1.0), np.zeros(16000, np.float32)])
    a, b = speech_bounds(x)
    assert abs(a - 8000) <= 320 and abs(b - 24000) <= 320


def test_label_parsing_of_both_corpora() -> None:
    c = parse_clip(Path("03-01-02-01-01-01-07.flac"))
    assert c is not None and c.label == "neutral" and c.gender == "male"  # calm -> neutral
    c = parse_clip(Path("03-01-08-02-02-02-20.wav"))
    assert c is not None and c.label == "surprise" and c.speaker == "ravdess-20"
    assert c.gender == "female"
    c = parse_clip(Path("03a01Wa.flac"))
    assert c is not None and c.corpus == "emodb" and c.label == "angry" and c.gender == "male"
    c = parse_clip(Path("08b02Lb.wav"))
    assert c is not None and c.label is None and c.gender == "female"  # boredom: not in 7
    assert parse_clip(Path("hello.wav")) is None
    assert parse_clip(Path("x.wav"), "sad") is not None


def test_scan_counts_real_corpora(shared_data: Path) -> None:
    rav, unknown = scan(shared_data / "speech" / "ravdess")
    assert len(rav) == 1200 and unknown == 0
    emo, _ = scan(shared_data / "speech" / "emodb")
    assert len(emo) == 408
    boredom = [p for p in (shared_data / "speech" / "emodb").iterdir() if p.stem[5] == "L"]
    assert sum(c.label is None for c in emo) == len(boredom) > 0


def test_yin_pitch_and_rms_match_librosa_on_real_speech() -> None:
    librosa = pytest.importorskip("librosa")
    import soundfile as sf

    from edge.lab.demo import demo_speech
    from edge.lab.prosody import rms, yin

    x, sr = sf.read(demo_speech(), dtype="float32")
    x = x[: 5 * sr].astype(np.float64)
    f0, aperiodic = yin(x, 65.0, 400.0, sr, 1024, 256)
    ref = librosa.yin(x, fmin=65.0, fmax=400.0, sr=sr, frame_length=1024, hop_length=256)
    np.testing.assert_allclose(f0, ref, atol=0.01)  # Hz
    assert np.all((aperiodic >= 0) & np.isfinite(aperiodic))
    e = rms(x, 1024, 256)
    ref_e = librosa.feature.rms(y=x, frame_length=1024, hop_length=256, center=True,
                                pad_mode="constant")[0]
    np.testing.assert_allclose(e, ref_e, atol=1e-6)


def test_prosody_pitch_voicing_and_speaking_rate() -> None:
    from edge.lab.prosody import prosody

    sr = 16000
    t = np.arange(3 * sr) / sr
    carrier = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 6))
    for rate in (3.0, 5.0):
        env = np.maximum(0.5 * (1 - np.cos(2 * np.pi * rate * t)), 0.05)  # syllables
        p = prosody(0.2 * carrier * env + 0.001 * np.random.default_rng(0).normal(size=t.size))
        assert p.pitch_hz is not None and abs(p.pitch_hz - 140.0) < 2.0
        assert p.speaking_rate is not None and abs(p.speaking_rate - rate) < 0.3 * rate / 3
        assert p.voiced_fraction > 0.5
    noise = prosody(0.05 * np.random.default_rng(1).normal(size=2 * sr))
    assert noise.voiced_fraction < 0.05 and noise.speaking_rate is None
