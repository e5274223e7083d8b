"""Late fusion: any subset of modalities, weights by quality and age, smoothing."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from edge.fusion import LateFusion
from edge.messages import EMOTIONS, ModalityEstimate
from edge.settings import FusionSettings


def probs(label: str, p: float = 0.9) -> tuple[float, ...]:
    rest = (1 - p) / (len(EMOTIONS) - 1)
    return tuple(p if e == label else rest for e in EMOTIONS)


def run_noisy_stream(cfg: FusionSettings) -> tuple[list[tuple[float, str | None]],
                                                    list[tuple[float, float | None]]]:
    """15 s of a noisy stream that alternates between happy and surprise, then sad."""
    from edge.circumplex import valence_arousal

    f = LateFusion(cfg)
    emitted: list[tuple[float, str | None]] = []
    valence: list[tuple[float, float | None]] = []
    t = 0.0
    rng = __import__("random").Random(3)
    while t < 30.0:
        label = rng.choice(["happy", "surprise"]) if t < 15 else "sad"
        p = probs(label, 0.6)
        v, a = valence_arousal(p)
        f.update(ModalityEstimate("face", t, 1.0, probs=p, valence=v, arousal=a))
        s = f.fuse(now=t, wall=t)
        emitted.append((t, s.emotion))
        valence.append((t, s.valence))
        t += 0.1
    return emitted, valence


def changes_of(emitted: list[tuple[float, str | None]]) -> list[tuple[float, str | None]]:
    return [(t, e) for (_, prev), (t, e) in itertools.pairwise(emitted) if e != prev]


def test_no_estimates_gives_nulls_and_zero_confidence() -> None:
    f = LateFusion(FusionSettings())
    s = f.fuse(now=100.0, wall=1.0)
    assert s.valence is None and s.stress is None and s.probs is None and s.emotion is None
    assert s.confidence == 0.0
    assert not any(m.present for m in s.modalities.values())


def test_weighting_by_quality_and_missing_values() -> None:
    f = LateFusion(FusionSettings(time_constant_s=0.0, combine="mean"))
    f.update(ModalityEstimate("face", 10.0, 0.9, probs=probs("happy"), valence=0.8, arousal=0.4))
    f.update(ModalityEstimate("voice", 10.0, 0.3, probs=probs("sad"), valence=-0.6, arousal=-0.2))
    f.update(ModalityEstimate("physio", 10.0, 1.0, arousal=0.5, stress=0.7))
    s = f.fuse(now=10.0, wall=1.0)
    assert s.emotion == "happy"
    assert s.valence is not None and abs(s.valence - (0.9 * 0.8 - 0.3 * 0.6) / 1.2) < 1e-3
    # stress: physiology's own, and the voice's (tense = aroused and unpleasant), fitted weight
    v_stress = ((1 - 0.2) * (1 + 0.6) / 2) ** 2
    assert s.stress is not None
    w = FusionSettings().stress_voice * 0.3
    assert abs(s.stress - (1.0 * 0.7 + w * v_stress) / (1.0 + w)) < 1e-3
    assert s.arousal is not None and abs(s.arousal - (0.9 * 0.4 - 0.3 * 0.2 + 0.5) / 2.2) < 1e-3
    top = (0.9 * 0.9 + 0.3 * 0.1 / 6) / 1.2  # reliability is 1 (physio quality 1) x top prob
    assert s.modalities["physio"].present and abs(s.confidence - top) < 1e-3
    # the fitted rule weighs the low-quality voice down the same way: face still wins
    g = LateFusion(FusionSettings(time_constant_s=0.0))
    for e in f._latest.values():
        g.update(e)
    fitted = g.fuse(now=10.0, wall=1.0)
    assert fitted.emotion == "happy" and fitted.probs is not None
    assert fitted.probs["happy"] > 0.8 and fitted.probs["sad"] < 0.1


def test_stale_estimates_decay_then_drop_out() -> None:
    cfg = FusionSettings(time_constant_s=0.0, max_age_s=5.0, age_decay_s=1.0)
    f = LateFusion(cfg)
    f.update(ModalityEstimate("face", 0.0, 1.0, probs=probs("angry"), valence=-0.5))
    f.update(ModalityEstimate("voice", 3.0, 1.0, probs=probs("happy"), valence=0.7))
    s = f.fuse(now=3.0, wall=1.0)
    assert s.emotion == "happy"  # the face estimate is 3 s old: weight e^-3
    s = f.fuse(now=6.0, wall=2.0)
    assert not s.modalities["face"].present and s.modalities["voice"].present
    assert s.valence == 0.7


def test_smoothing_follows_time_constant() -> None:
    f = LateFusion(FusionSettings(time_constant_s=2.0))
    f.update(ModalityEstimate("physio", 0.0, 1.0, stress=0.0))
    assert f.fuse(now=0.0, wall=0.0).stress == 0.0
    f.update(ModalityEstimate("physio", 2.0, 1.0, stress=1.0))
    s = f.fuse(now=2.0, wall=2.0)
    assert s.stress is not None and abs(s.stress - (1 - 2.718281828 ** -1)) < 1e-3


def test_paused_state_carries_nothing() -> None:
    f = LateFusion(FusionSettings())
    f.update(ModalityEstimate("face", 0.0, 1.0, probs=probs("happy"), valence=0.5, count=2))
    s = f.fuse(now=0.1, wall=1.0, paused=True)
    assert s.paused and s.valence is None and s.probs is None and s.confidence == 0.0
    assert not s.modalities["face"].present


def test_emitted_emotion_changes_at_most_once_per_dwell_and_values_track() -> None:
    """The noisy stream must not flicker the emitted emotion (without dwell and
    hysteresis it does); a real change (to sad) shows in the smoothed valence within
    3 time constants and in the emotion within smoothing plus one dwell time."""
    flicker, _ = run_noisy_stream(FusionSettings(time_constant_s=1.0, hysteresis=0.0,
                                                 dwell_s=0.0))
    assert len(changes_of(flicker)) >= 4  # the control: the stream does flicker
    cfg = FusionSettings(time_constant_s=1.0, hysteresis=0.05, dwell_s=3.0)
    emitted, valence = run_noisy_stream(cfg)
    changes = changes_of(emitted)
    for (t1, _), (t2, _) in itertools.pairwise(changes):
        assert t2 - t1 >= 3.0 - 1e-9, changes
    assert emitted[-1][1] == "sad"
    first_sad = next(t for t, e in emitted if e == "sad")
    assert 15.0 <= first_sad <= 15.0 + 3.0 + 3.0  # smoothing plus at most one dwell
    v_after = next(t for t, v in valence if t > 15 and v is not None and v < -0.2)
    assert v_after - 15.0 <= 3 * cfg.time_constant_s


def test_fitted_fusion_defaults_are_the_committed_fit() -> None:
    """FusionSettings' temperatures and pooling exponents are models/training/fusion.py's
    fit (models/reports/fusion_fit.json), not hand-picked numbers."""
    import json
    from pathlib import Path

    fit = json.loads((Path(__file__).resolve().parents[2] / "models" / "reports"
                      / "fusion_fit.json").read_text())
    s = FusionSettings()
    shipped = {"temperature_face": s.face.temperature, "temperature_voice": s.voice.temperature,
               "pool_face": s.face.pool, "pool_voice": s.voice.pool,
               "stress_voice": s.stress_voice}
    for key, value in shipped.items():
        assert value == pytest.approx(fit[key], abs=5e-5), key
    assert s.combine == "fitted"


def test_fitted_pooling_sharpens_agreement_and_calibrates_one_modality() -> None:
    cfg = FusionSettings(time_constant_s=0.0)
    face = (0.05, 0.05, 0.05, 0.55, 0.2, 0.05, 0.05)
    voice = (0.05, 0.05, 0.05, 0.45, 0.3, 0.05, 0.05)
    both = LateFusion(cfg, ("face", "voice"))
    both.update(ModalityEstimate("face", 0.0, 1.0, probs=face))
    both.update(ModalityEstimate("voice", 0.0, 1.0, probs=voice))
    fused = both.fuse(now=0.0, wall=0.0)
    assert fused.emotion == "happy" and fused.probs is not None
    assert fused.probs["happy"] > max(face[3], voice[3])  # agreeing experts reinforce
    alone = LateFusion(cfg, ("face",))
    alone.update(ModalityEstimate("face", 0.0, 1.0, probs=face))
    p = alone.fuse(now=0.0, wall=0.0).probs
    assert p is not None and sum(p.values()) == pytest.approx(1.0, abs=1e-3)
    expected = np.exp(np.log(face) / cfg.face.temperature)
    assert p["happy"] == pytest.approx(expected[3] / expected.sum(), abs=1e-3)
    mean = LateFusion(replace(cfg, combine="mean"), ("face", "voice"))
    mean.update(ModalityEstimate("face", 0.0, 1.0, probs=face))
    mean.update(ModalityEstimate("voice", 0.0, 1.0, probs=voice))
    pm = mean.fuse(now=0.0, wall=0.0).probs
    assert pm is not None and pm["happy"] == pytest.approx(0.5, abs=1e-3)


def test_stress_without_a_wearable_comes_from_the_voice() -> None:
    f = LateFusion(FusionSettings(time_constant_s=0.0), ("voice",))
    f.update(ModalityEstimate("voice", 0.0, 1.0, probs=probs("angry"), valence=-0.7,
                              arousal=0.8))
    tense = f.fuse(now=0.0, wall=0.0).stress
    f.update(ModalityEstimate("voice", 1.0, 1.0, probs=probs("neutral"), valence=0.1,
                              arousal=-0.5))
    calm = f.fuse(now=1.0, wall=1.0).stress
    assert tense is not None and calm is not None and tense > 0.9 and calm < 0.3
