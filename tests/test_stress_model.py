"""The physiology stress model: the wearer norm (past windows only, population prior,
persistence format), the JSON model's validation, and the shipped model's direction
(more heart rate and sweating against the wearer's history -> more stress)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.physio.stress_model import (
    FEATURES,
    INPUTS,
    PRIOR_WINDOWS,
    StressModel,
    WearerNorm,
    session_inputs,
)


def test_norm_uses_only_the_past_and_itself() -> None:
    rng = np.random.default_rng(0)
    raws = rng.normal(size=(12, len(FEATURES)))
    full = session_inputs(raws, None)
    cut = session_inputs(raws[:7], None)
    np.testing.assert_allclose(full[:7], cut)  # later windows never change earlier inputs
    assert np.all(full[:2] == 0.0)  # no history, no judgement
    # the fourth window against the four seen so far
    v = np.concatenate([raws[:4], np.diff(raws[:4], axis=0, prepend=raws[:1])], axis=1)
    expect = (v[3] - v.mean(axis=0)) / (v.std(axis=0) + 1e-6)
    np.testing.assert_allclose(full[3], expect, rtol=1e-9, atol=1e-9)


def test_prior_scores_the_first_windows_then_gives_way() -> None:
    prior = (np.zeros(len(INPUTS)), np.ones(len(INPUTS)))
    norm = WearerNorm(prior)
    raw = np.full(len(FEATURES), 2.0)
    first = norm.inputs(raw)
    assert first[0] == pytest.approx(2.0 * PRIOR_WINDOWS / (PRIOR_WINDOWS + 1)
                                     / np.sqrt((PRIOR_WINDOWS + 4.0 * PRIOR_WINDOWS
                                                / (PRIOR_WINDOWS + 1)) / (PRIOR_WINDOWS + 1)),
                                     rel=1e-6)
    for _ in range(200):  # a wearer who always looks like this becomes their own normal
        norm.update(raw)
    assert abs(norm.inputs(raw)[0]) < 0.2 < first[0]


def test_norm_round_trips_and_rejects_malformed() -> None:
    norm = WearerNorm()
    for k in range(5):
        norm.update(np.arange(len(FEATURES), dtype=float) * k)
    again = WearerNorm.from_dict(json.loads(json.dumps(norm.to_dict())))
    np.testing.assert_allclose(again.mean, norm.mean, atol=1e-6)
    assert again.n == norm.n
    bad = norm.to_dict()
    bad["m2"] = bad["m2"][:-1]
    with pytest.raises(ValueError):
        WearerNorm.from_dict(bad)
    bad = norm.to_dict()
    bad["m2"][0] = -1.0
    with pytest.raises(ValueError):
        WearerNorm.from_dict(bad)


def test_model_json_is_validated() -> None:
    model = StressModel.from_registry()
    text = model.to_json({})
    assert StressModel.from_json(text).weights.tolist() == model.weights.tolist()
    d = json.loads(text)
    d["inputs"] = d["inputs"][:-1]
    with pytest.raises(ValueError, match="inputs"):
        StressModel.from_json(json.dumps(d))
    d = json.loads(text)
    d["weights"] = d["weights"][:-1]
    with pytest.raises(ValueError, match="wrong length"):
        StressModel.from_json(json.dumps(d))


def test_shipped_model_reads_arousal_from_the_wearers_history() -> None:
    """Forty calm windows, then one with the heart 15 % faster than the baseline and
    three extra SCRs a minute: the shipped model calls the calm ones calm and the
    aroused one more stressed."""
    model = StressModel.from_registry()
    rng = np.random.default_rng(1)
    calm = np.zeros((40, len(FEATURES)))
    calm += rng.normal(0, 0.02, calm.shape)
    calm[:, FEATURES.index("phasic_sd")] = 0.05 + rng.normal(0, 0.005, 40)
    hot = calm[-1].copy()
    for name, value in (("hr_last_rel", 0.15), ("hr_rel", 0.15), ("scr_delta", 3.0),
                        ("scl_logrel", 0.3), ("phasic_sd", 0.12)):
        hot[FEATURES.index(name)] = value
    inputs = session_inputs(np.vstack([calm, hot]), model.prior)
    p = [model.probability(v) for v in inputs]
    assert np.median(p[10:40]) < 0.5 < p[-1]
