"""The physiology stress model: the wearer norm (past windows only, population prior,
persistence format), the context of earlier windows, the boosted trees (the numpy
walk agrees with scikit-learn, malformed trees are refused), the JSON model's
validation, and the shipped model's direction (more heart rate and sweating
against the wearer's history -> more stress)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.physio.stress_model import (
    ALL_FEATURES,
    CONTEXT,
    FEATURES,
    INPUTS,
    MODEL_INPUTS,
    PRIOR_WINDOWS,
    TEMPERATURE,
    TEMPERATURE_MODEL_ID,
    StressModel,
    WearerNorm,
    input_names,
    model_inputs,
    session_inputs,
    temperature_features,
    with_context,
)
from edge.physio.trees import Tree, TreeEnsemble, from_sklearn


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
        norm.update(np.arange(len(ALL_FEATURES), dtype=float) * k)
    again = WearerNorm.from_dict(json.loads(json.dumps(norm.to_dict())))
    np.testing.assert_allclose(again.mean, norm.mean, atol=1e-6)
    np.testing.assert_array_equal(again.n, norm.n)
    bad = norm.to_dict()
    bad["m2"] = bad["m2"][:-1]
    with pytest.raises(ValueError):
        WearerNorm.from_dict(bad)
    bad = norm.to_dict()
    bad["m2"][0] = -1.0
    with pytest.raises(ValueError):
        WearerNorm.from_dict(bad)


def test_norm_keeps_a_missing_input_missing_and_its_statistics_still() -> None:
    """No thermometer for the first windows: those inputs are NaN and their statistics
    do not move; the other inputs are normalised exactly as without the missing column;
    once the thermometer reports, its inputs count from its own first windows (a prior
    with NaN there knows nothing of them)."""
    rng = np.random.default_rng(3)
    raws = rng.normal(size=(10, 3))
    gappy = raws.copy()
    gappy[:4, 2] = np.nan
    z = session_inputs(gappy, None)
    np.testing.assert_allclose(z[:, [0, 1, 3, 4]], session_inputs(raws[:, :2], None))
    assert np.isnan(z[:4, [2, 5]]).all() and not np.isnan(z[4:, 2]).any()
    np.testing.assert_allclose(z[4:, 2], session_inputs(raws[4:, 2:], None)[:, 0])
    prior = (np.array([0.0, 0.0, np.nan, 0.0, 0.0, np.nan]), np.ones(6))
    norm = WearerNorm(prior, n_features=3)
    assert norm.n.tolist() == [PRIOR_WINDOWS, PRIOR_WINDOWS, 0] * 2
    again = WearerNorm.from_dict(json.loads(json.dumps(WearerNorm().to_dict())))
    assert again.mean.size == 2 * len(ALL_FEATURES)


def test_temperature_features_follow_the_skin_and_are_missing_without_it() -> None:
    fs = 4.0
    cooling = 33.0 - 0.5 * np.arange(240) / fs / 60.0  # half a degree a minute
    rel, slope, sd, rise = temperature_features(cooling, fs, {"temp_c": 33.5})
    assert slope == pytest.approx(-0.5, rel=1e-6)
    assert rise == pytest.approx(-0.5 * 50 / 60, rel=0.02)
    assert rel == pytest.approx(-0.75, abs=0.01) and sd > 0
    assert np.isnan(temperature_features(None, 0.0, {})).all()
    assert np.isnan(temperature_features(cooling[:40], fs, {})).all()  # 10 s: too little
    assert ALL_FEATURES[-len(TEMPERATURE):] == TEMPERATURE


def test_shipped_temperature_model_reads_the_heart_skin_and_temperature() -> None:
    """The second shipped model: the heart-and-skin features then the temperature ones,
    144 inputs, a prior over all of them; some trees split on temperature."""
    warm = StressModel.from_registry(model_id=TEMPERATURE_MODEL_ID)
    assert warm.features == ALL_FEATURES and warm.prior_mean.size == 2 * len(ALL_FEATURES)
    assert warm.trees.n_inputs == 3 * 2 * len(ALL_FEATURES)
    read = {int(f) % (2 * len(ALL_FEATURES)) for t in warm.trees.trees for f in t.feature
            if f >= 0}
    assert read & {i for i, n in enumerate(input_names(ALL_FEATURES)) if "_temp_" in n}
    again = StressModel.from_json(warm.to_json({}))
    x = np.linspace(-2, 2, warm.trees.n_inputs)
    assert again.probability(x) == warm.probability(x)


def test_context_repeats_the_oldest_known_window() -> None:
    a, b, c = (np.full(len(INPUTS), v) for v in (1.0, 2.0, 3.0))
    assert CONTEXT == 2 and len(MODEL_INPUTS) == 3 * len(INPUTS)
    np.testing.assert_array_equal(with_context(c, []), np.concatenate([c, c, c]))
    np.testing.assert_array_equal(with_context(c, [b]), np.concatenate([c, b, b]))
    np.testing.assert_array_equal(with_context(c, [a, b]), np.concatenate([c, b, a]))
    rng = np.random.default_rng(2)
    raws = rng.normal(size=(6, len(FEATURES)))
    z = session_inputs(raws, None)
    rows = model_inputs(raws, None)
    np.testing.assert_array_equal(rows[4], np.concatenate([z[4], z[3], z[2]]))
    np.testing.assert_array_equal(rows[0], np.concatenate([z[0], z[0], z[0]]))


def test_tree_walk_matches_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 6))
    y = (x[:, 0] + x[:, 1] ** 2 - x[:, 4] + rng.normal(0, 0.5, 2000) > 1).astype(int)
    x[::50, 2] = np.nan  # missing values take the side the trees learned
    clf = HistGradientBoostingClassifier(max_depth=3, max_iter=60, early_stopping=False,
                                         random_state=0).fit(x, y)
    ens = TreeEnsemble.from_dict(json.loads(json.dumps(from_sklearn(clf, 6).to_dict())))
    xt = rng.normal(size=(300, 6))
    xt[::7, 2] = np.nan
    ours = np.array([ens.logit(v) for v in xt])
    np.testing.assert_allclose(ours, clf.decision_function(xt), atol=1e-6)
    one_by_one = np.array([ens.bias + sum(t.leaf(v) for t in ens.trees) for v in xt])
    np.testing.assert_allclose(one_by_one, ours, atol=1e-9)
    with pytest.raises(ValueError, match="expected 6 inputs"):
        ens.logit(np.zeros(5))


def test_malformed_trees_are_refused() -> None:
    good = {"feature": [0, -1, -1], "threshold": [0.5, 0, 0], "missing_left": [1, 0, 0],
            "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, -1.0, 1.0]}
    tree = Tree.from_dict(good, n_inputs=1)
    assert tree.leaf(np.array([0.2])) == -1.0 and tree.leaf(np.array([0.9])) == 1.0
    for change in ({"left": [0, -1, -1]},  # a loop back to itself
                   {"right": [5, -1, -1]},  # outside the tree
                   {"feature": [3, -1, -1]},  # an input the model does not have
                   {"value": [0, float("nan"), 1.0]},
                   {"threshold": [0.5, 0]}):
        with pytest.raises(ValueError):
            Tree.from_dict({**good, **change}, n_inputs=1)


def test_model_json_is_validated() -> None:
    model = StressModel.from_registry()
    text = model.to_json({})
    again = StressModel.from_json(text)
    x = np.linspace(-2, 2, len(MODEL_INPUTS))
    assert again.probability(x) == model.probability(x)
    d = json.loads(text)
    d["inputs"] = d["inputs"][:-1]
    with pytest.raises(ValueError, match="inputs"):
        StressModel.from_json(json.dumps(d))
    d = json.loads(text)
    d["prior_mean"] = d["prior_mean"][:-1]
    with pytest.raises(ValueError, match="wrong number"):
        StressModel.from_json(json.dumps(d))
    d = json.loads(text)
    d["trees"][0]["left"][0] = 0
    with pytest.raises(ValueError, match="points outside"):
        StressModel.from_json(json.dumps(d))


def test_shipped_model_reads_arousal_from_the_wearers_history() -> None:
    """Forty calm windows, then one with the heart 15 % faster than the baseline and
    climbing, three extra SCRs a minute and the skin conductance rising: the shipped
    model calls the calm ones calm and the aroused one more stressed."""
    model = StressModel.from_registry()
    rng = np.random.default_rng(1)
    calm = np.zeros((40, len(FEATURES)))
    calm += rng.normal(0, 0.02, calm.shape)
    for name, level in (("phasic_sd", 0.05), ("eda_sd", 0.06), ("phasic_max", 0.08),
                        ("scl_range", 0.1), ("scl_climb", 0.1), ("hr_jitter", 0.02)):
        calm[:, FEATURES.index(name)] = level + rng.normal(0, 0.1 * level, 40)
    hot = calm[-1].copy()
    for name, value in (("hr_last_rel", 0.15), ("hr_rel", 0.15), ("hr_max_rel", 0.2),
                        ("hr_rise_rel", 0.1), ("scr_delta", 3.0), ("scr_recent", 2.0),
                        ("scl_logrel", 0.3), ("phasic_sd", 0.12), ("phasic_max", 0.3),
                        ("eda_sd", 0.2), ("scl_range", 0.4), ("scl_rise", 0.3),
                        ("scl_climb", 0.5)):
        hot[FEATURES.index(name)] = value
    inputs = model_inputs(np.vstack([calm, hot]), model.prior)
    p = [model.probability(v) for v in inputs]
    assert np.median(p[10:40]) < 0.5 < p[-1]


def test_wesad_reader_maps_the_shared_columns_and_skips_bad_rows(tmp_path: Path) -> None:
    """The WESAD window features the cross-dataset check reads: the RR-named column
    flipped into heart rate, per-subject standardisation, malformed rows skipped, a file
    without the columns refused by name."""
    from edge.lab.evaluate.wesad import MATCHED, read_wesad

    cols = [c for c, _ in MATCHED.values()]
    lines = [",".join([*cols, "label", "subject_id"])]
    rng = np.random.default_rng(0)
    for i in range(20):
        stress = i % 4 == 0
        vals = rng.normal(0, 1, len(cols)) + (2.0 if stress else 0.0)
        lines.append(",".join([*(f"{v:.4f}" for v in vals),
                               "stress" if stress else "non-stress", "S2"]))
    lines.append(",".join(["oops"] * len(cols) + ["stress", "S2"]))  # malformed: skipped
    path = tmp_path / "w.csv"
    path.write_text("\n".join(lines) + "\n")
    d = read_wesad(path)
    x, y = d["S2"]
    assert x.shape == (20, 4) and y.sum() == 5
    assert np.allclose(np.median(x, axis=0), 0.0)
    hr = list(MATCHED).index("hr_rel")  # the mean RR column, negated: higher under stress
    assert x[y == 1, hr].mean() < x[y == 0, hr].mean()
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="z_scl_mean"):
        read_wesad(tmp_path / "bad.csv")


def test_nested_candidate_trees_read_only_their_features() -> None:
    """`stress_nested.fit_candidate`: a candidate restricted to some features grows trees
    that never split on the others, so the daemon's full input vector can be scored."""
    from edge.lab.evaluate.stress_nested import ROBUST, fit_candidate
    from edge.physio.stress_model import FEATURES, MODEL_INPUTS

    rng = np.random.default_rng(0)
    raws, labels = [], []
    for _ in range(4):
        y = (np.arange(60) // 15) % 2
        x = rng.normal(0, 1, (60, len(FEATURES)))
        x[:, FEATURES.index("hr_sd")] += 3.0 * y  # informative, but not among ROBUST
        x[:, FEATURES.index("scl_logrel")] += 1.0 * y
        raws.append(x)
        labels.append(y.astype(np.int64))
    params = {"max_depth": 2, "max_iter": 30, "learning_rate": 0.1, "min_samples_leaf": 10,
              "random_state": 0}
    model = fit_candidate(raws, labels, params, ROBUST)
    used = {MODEL_INPUTS[int(f)] for t in model.trees.trees for f in t.feature if f >= 0}
    names = {n.split("_", 1)[1].rsplit("_lag", 1)[0] for n in used}
    assert used and names <= set(ROBUST) and "hr_sd" not in names
    everything = fit_candidate(raws, labels, params, FEATURES)
    assert any(MODEL_INPUTS[int(f)].split("_", 1)[1].startswith("hr_sd")
               for t in everything.trees.trees for f in t.feature if f >= 0)


def test_skin_temperature_as_a_ble_thermometer_sends_it() -> None:
    """`eval stress --temperature-hz 1`: the E4's 4 Hz becomes one reading a second, the
    mean of its four samples at the 0.01 °C of the Health Thermometer's FLOAT; a partial
    last second is left out."""
    from edge.lab.evaluate.stress import as_ble_thermometer

    e4 = np.array([31.01, 31.03, 31.05, 31.07, 32.0, 32.0, 32.02, 32.02, 33.0])
    temp, fs = as_ble_thermometer(e4, 4.0, 1.0)
    assert fs == 1.0 and temp.tolist() == [31.04, 32.01]
    same, fs4 = as_ble_thermometer(e4, 4.0, 4.0)
    assert fs4 == 4.0 and np.array_equal(same, np.round(e4, 2))


def test_monotone_trees_never_lower_stress_as_the_named_features_rise() -> None:
    """`eval stress --monotone`: trees whose p(stress) does not fall as this window's
    heart rate rises, even where the training labels say otherwise; the constraint
    covers only this window's value, and a name outside the features is refused."""
    pytest.importorskip("sklearn")
    from edge.lab.evaluate.stress import fit_model, monotone_constraints

    cst = monotone_constraints(FEATURES, ("hr_rel",))
    assert [MODEL_INPUTS[i] for i, c in enumerate(cst) if c] == ["z_hr_rel"]
    with pytest.raises(ValueError, match="temp_rel"):
        monotone_constraints(FEATURES, ("temp_rel",))
    rng = np.random.default_rng(0)
    raws, labels = [], []
    for _ in range(4):
        x = rng.normal(0, 1, (80, len(FEATURES)))
        hr = x[:, FEATURES.index("hr_rel")]
        y = ((hr > 0) & (hr < 1.0)).astype(np.int64)  # stress drops again at the top
        raws.append(x)
        labels.append(y)
    sweep = np.linspace(-3.0, 3.0, 25)
    col = MODEL_INPUTS.index("z_hr_rel")

    def curve(model: StressModel, base: np.ndarray) -> np.ndarray:
        rows = np.repeat(base[None, :], sweep.size, axis=0)
        rows[:, col] = sweep
        return np.array([model.probability(r) for r in rows])

    bases = rng.normal(0, 0.5, (5, len(MODEL_INPUTS)))
    free = fit_model(raws, labels)
    assert any(np.any(np.diff(curve(free, b)) < -1e-9) for b in bases)
    rising = fit_model(raws, labels, monotone=("hr_rel",))
    assert all(np.all(np.diff(curve(rising, b)) >= -1e-9) for b in bases)
