"""The prosody head beside the speech-emotion network: its features on real and
synthetic voices, the room reference (past only), the shipped weights' checks, and
what it and the everyday prior do to the daemon's voice output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.messages import EMOTIONS
from edge.voice.features import log_mel_of_power, power_spectrogram
from edge.voice.pitch import pitch_track
from edge.voice.prosody import PROSODY_FEATURES, ProsodyHead, RoomProsody, prosody_features


def voice(f0: float, seconds: float = 2.0, syllables_hz: float = 4.0) -> np.ndarray:
    """A harmonic voice at `f0` with a syllable-rate envelope (pauses between)."""
    t = np.arange(int(seconds * 16000)) / 16000
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 10))
    env = np.maximum(np.sin(2 * np.pi * syllables_hz * t), 0.0) ** 2
    rng = np.random.default_rng(0)
    return (0.2 * x * env + 1e-4 * rng.normal(size=t.size)).astype(np.float32)


def features(x: np.ndarray) -> dict[str, float]:
    p = power_spectrogram(x)
    return dict(zip(PROSODY_FEATURES, prosody_features(pitch_track(x), log_mel_of_power(p),
                                                       p).tolist(),
                    strict=True))


def test_voicing_and_rate_of_a_synthetic_voice() -> None:
    slow, fast = features(voice(120.0)), features(voice(120.0, syllables_hz=7.0))
    assert 0.2 < slow["voiced_share"] < 0.9
    assert 3.0 < slow["voicing_onsets_per_s"] < 5.0  # one voicing onset per syllable
    assert fast["voicing_onsets_per_s"] > slow["voicing_onsets_per_s"] + 2.0
    noise = features(np.random.default_rng(1).normal(0, 0.05, 32000).astype(np.float32))
    assert noise["voiced_share"] == 0.0 and noise["pitch_octave"] == 0.0  # nothing voiced


def test_pitch_agrees_with_yin_on_real_speech(shared_data: Path) -> None:
    """The head's pitch (YIN on short 32-ms frames every 20 ms, cheap enough for the
    voice path) against YIN as librosa runs it (`edge.lab.prosody`: 64-ms frames) on
    held-out speakers' clips."""
    from edge.lab.evaluate.speech import load_clip
    from edge.lab.prosody import prosody

    speech = shared_data / "speech"
    files = [*sorted((speech / "ravdess" / "Actor_19").iterdir())[::4],
             *sorted((speech / "ravdess" / "Actor_20").iterdir())[::4],
             *sorted(p for p in (speech / "emodb").iterdir() if p.name[:2] in ("03", "08"))[::6]]
    diff = []
    for f in files:
        x = load_clip(f)
        ref = prosody(x.astype(np.float64)).pitch_hz
        assert ref is not None
        diff.append(12 * (features(x)["pitch_octave"] - np.log2(ref)))
    d = np.abs(np.array(diff))
    assert len(d) == 48 and np.median(d) < 0.5 and np.mean(d < 2.0) > 0.85, (np.median(d), d)


def test_room_reference_uses_the_past_only() -> None:
    room = RoomProsody(window=3)
    a, b = np.ones(len(PROSODY_FEATURES)), 3 * np.ones(len(PROSODY_FEATURES))
    assert np.all(room.relative(a) == 0.0)  # the first utterance is its own reference
    assert np.allclose(room.relative(b), 1.0)  # 3 - mean(1, 3)
    for _ in range(3):
        room.relative(b)
    assert np.allclose(room.relative(b), 0.0)  # the window forgot the first one
    room.reset()
    assert np.all(room.relative(b) == 0.0)


def test_shipped_head_refuses_malformed_weights() -> None:
    head = ProsodyHead.from_registry()
    good = json.loads(head.to_json({}))
    for key, bad in (("features", list(PROSODY_FEATURES)[:-1]), ("weights", [[0.0]]),
                     ("scale", [0.0] * len(PROSODY_FEATURES)), ("network_weight", 1.5),
                     ("everyday_prior", [-1.0] * len(EMOTIONS))):
        with pytest.raises(ValueError):
            ProsodyHead.from_json(json.dumps({**good, key: bad}))
    again = ProsodyHead.from_json(json.dumps(good))
    assert np.allclose(again.weights, head.weights) and again.labels == EMOTIONS
    # the everyday prior leans to neutral; the uniform one adds nothing
    everyday = head.log_prior("everyday")
    assert EMOTIONS[int(np.argmax(everyday))] == "neutral"
    assert np.all(head.log_prior("uniform") == 0.0)
    with pytest.raises(ValueError, match="prior"):
        head.log_prior("acted")


def test_the_voice_output_with_and_without_prosody(shared_data: Path) -> None:
    """On a held-out actor's clips, the daemon's model with the prosody head differs
    from the network alone once the room has a reference, the first clip rests on the
    network (its relative prosody is 0), and the everyday prior moves probability to
    neutral."""
    from edge.lab.evaluate.speech import load_clip
    from edge.registry import Registry
    from edge.settings import VoiceSettings
    from edge.voice.analyzer import SpeechEmotionModel

    reg = Registry()
    net = reg.load("speech_emotion", 1)
    clips = [load_clip(p) for p in
             sorted((shared_data / "speech" / "ravdess" / "Actor_19").iterdir())[:6]]

    def run(settings: VoiceSettings) -> np.ndarray:
        m = SpeechEmotionModel.from_registry(reg, settings, model=net)
        return np.array([m.predict(x) for x in clips])

    alone = run(VoiceSettings(prosody=False))
    uniform = run(VoiceSettings(prior="uniform"))
    everyday = run(VoiceSettings())
    assert np.allclose(alone.sum(1), 1.0) and np.allclose(everyday.sum(1), 1.0)
    assert np.abs(uniform[1:] - alone[1:]).max() > 0.02  # the head speaks
    neutral = EMOTIONS.index("neutral")
    assert np.all(everyday[:, neutral] > uniform[:, neutral])
