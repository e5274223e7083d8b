"""Physiology path: streaming R-peaks (chunk-size invariant, real MIT-BIH when present)
and the analyzer's response to the synthetic wearer's stress schedule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.physio.analyzer import PhysioAnalyzer
from edge.physio.rpeaks import StreamingRPeakDetector
from edge.physio.stress_model import ALL_FEATURES, StressModel
from edge.physio.synthetic import SyntheticPhysio
from edge.sources.wearable.e4 import E4ReplaySource, E4Settings
from edge.sources.wearable.synthetic import SyntheticPhysioSource, SyntheticSettings


def synthetic_ecg(seconds: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    g = SyntheticPhysio(seed=seed)
    parts, beats = [], set()
    for k in range(seconds):
        parts.append(g.ecg(float(k), 130))
        beats.update(g._beats)
    return np.concatenate(parts), np.array(sorted(beats))


def detect(x: np.ndarray, fs: float, chunk: int) -> np.ndarray:
    d = StreamingRPeakDetector(fs)
    out: list[float] = []
    for i in range(0, len(x), chunk):
        out += d.process(x[i:i + chunk])
    return np.array(out)


def score(found: np.ndarray, truth: np.ndarray, tol: float = 0.15) -> tuple[float, float]:
    tp = sum(bool(found.size) and np.min(np.abs(found - t)) <= tol for t in truth)
    return tp / len(truth), tp / max(1, len(found))


def _stream(an: PhysioAnalyzer, seconds: float, seed: int = 0) -> list:
    src = SyntheticPhysioSource(SyntheticSettings(realtime=False, chunk_s=0.5, seed=seed))
    src.open()
    out = []
    while src._t < seconds:
        for item in src.read():
            out += an.process(item)
    return out


@pytest.mark.parametrize("chunk", [1, 13, 130, 1300, 7800])
def test_rpeaks_chunk_size_invariant(chunk: int) -> None:
    x, _ = synthetic_ecg(90)
    reference = detect(x, 130.0, 65)
    np.testing.assert_allclose(detect(x, 130.0, chunk), reference)


def test_rpeaks_chunk_size_invariant_on_a_real_record(shared_data: Path) -> None:
    """Record 114 at 130 Hz: the same beats from BLE-frame-sized pieces (73 and 71
    samples, as a Polar H10 sends them), 1-s chunks, and the whole record in one call
    (the detector learns its levels from exactly the first 2 s however it is fed)."""
    wfdb = pytest.importorskip("wfdb")
    from scipy.signal import resample_poly

    record = wfdb.rdrecord(str(shared_data / "physio" / "mitdb" / "114"), channels=[0])
    x = resample_poly(record.p_signal[:, 0] * 1000.0, 13, 36)
    reference = detect(x, 130.0, 130)
    assert reference.size > 1800
    d = StreamingRPeakDetector(130.0)
    frames: list[float] = []
    i, k = 0, 0
    while i < x.size:
        step = 73 if k % 2 else 71
        frames += d.process(x[i:i + step])
        i, k = i + step, k + 1
    np.testing.assert_allclose(np.array(frames), reference, atol=1e-9)
    np.testing.assert_allclose(detect(x, 130.0, x.size), reference, atol=1e-9)


def test_rpeaks_find_synthetic_beats_at_130hz() -> None:
    x, truth = synthetic_ecg(120)
    found = detect(x, 130.0, 65)
    truth = truth[(truth > 2.5) & (truth < 119.5)]
    found = found[(found > 2.5) & (found < 119.5)]
    se, ppv = score(found, truth)
    assert se == 1.0 and ppv == 1.0
    err = [np.min(np.abs(found - t)) for t in truth]
    assert float(np.median(err)) < 0.02


def test_rpeaks_on_mit_bih_record_100(shared_data: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    from scipy.signal import resample_poly

    rec = str(shared_data / "physio" / "mitdb" / "100")
    record = wfdb.rdrecord(rec, channels=[0])
    ann = wfdb.rdann(rec, "atr")
    beat_symbols = set("NLRBAaJSVrFejnE/fQ")
    ann_samples = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True)
                            if sym in beat_symbols])
    x = resample_poly(record.p_signal[:, 0] * 1000.0, 13, 36)  # mV at 360 Hz -> µV at 130 Hz
    found = detect(x, 130.0, 130)
    truth = ann_samples / record.fs
    truth = truth[(truth > 3.0) & (truth < len(x) / 130.0 - 1.0)]
    found = found[(found > 3.0) & (found < len(x) / 130.0 - 1.0)]
    se, ppv = score(found, truth)
    assert se >= 0.99 and ppv >= 0.99, (se, ppv)


def test_rpeaks_on_every_mit_bih_record_at_130hz(shared_data: Path) -> None:
    """All records in ../shared at the H10's rate, as `affectd eval ecg --fs 130` scores
    them (incl. 203, 208, 210: ventricular ectopy; 105, 108: noise)."""
    pytest.importorskip("wfdb")
    from edge.lab.evaluate.ecg import evaluate_records

    folder = shared_data / "physio" / "mitdb"
    records = sorted({p.with_suffix("") for p in folder.glob("*.hea")})
    assert len(records) >= 10
    r = evaluate_records(records, 130.0)
    assert r["sensitivity"] >= 0.995 and r["ppv"] >= 0.995, r
    assert min(row["f1"] for row in r["records"]) >= 0.97, r["records"]


def test_rpeaks_fixed_latency() -> None:
    """Fed sample by sample, a beat comes out 0.5 s after its R wave (the 120 ms
    local-maximum test plus the 250 ms look-ahead for a stronger candidate)."""
    x, _ = synthetic_ecg(60)
    d = StreamingRPeakDetector(130.0)
    lag = [(k + 1) / 130.0 - b for k in range(x.size) for b in d.process(x[k:k + 1])]
    assert len(lag) > 50
    assert 0.45 < float(np.median(lag)) < 0.55 and min(lag) > 0.4


def test_rpeaks_recover_after_an_artefact_burst() -> None:
    """Two seconds of huge artefact (a strap pulled off the skin) must not blind the
    detector: the levels it learnt from the artefact are let go within a few beats."""
    x, truth = synthetic_ecg(60)
    burst = slice(30 * 130, 32 * 130)
    x = x.copy()
    x[burst] += 200.0 * np.random.default_rng(0).normal(0.0, 1000.0, 2 * 130)
    found = detect(x, 130.0, 65)
    after = truth[(truth > 36.0) & (truth < 59.5)]
    se, _ = score(found[(found > 36.0) & (found < 59.5)], after)
    assert se == 1.0, se


def test_analyzer_tracks_stress_schedule() -> None:
    """The synthetic wearer's two-minute stress and rest blocks, through the shipped
    model: once the wearer norm has seen one stress-rest cycle of this wearer (it
    starts from the training population), stressed blocks read as stress and
    recovered rest as calm."""
    settings = SyntheticSettings(realtime=False, calibration_s=30.0, chunk_s=0.5)
    src = SyntheticPhysioSource(settings)
    src.open()
    an = PhysioAnalyzer(settings.calibration_s)
    rest, stress = [], []
    last_stress = -1e9
    for _ in range(2 * 760):  # calibration (40 s), then three 2-min stress-rest cycles
        for item in src.read():
            for est in an.process(item):
                level = src._gen.stress_at(src._t)
                if level > 0:
                    last_stress = src._t
                if est.stress is None or src._t < 280.0:  # the first cycle teaches the norm
                    continue
                if level > 0.99:
                    stress.append(est.stress)
                elif src._t - last_stress > 30.0:  # rest, once the body has recovered
                    rest.append(est.stress)
    assert len(rest) > 100 and len(stress) > 100
    assert np.median(stress) > 0.5 > np.median(rest)
    assert np.median(stress) > np.median(rest) + 0.3


def test_e4_replay_source_and_analyzer(shared_data: Path) -> None:
    folder = shared_data / "physio" / "empatica_e4"
    src = E4ReplaySource(E4Settings(backend="e4", path=folder, realtime=False, loop=False,
                                        chunk_s=5.0))
    src.open()
    an = PhysioAnalyzer(calibration_s=60.0)
    ests = []
    for _ in range(120):
        for item in src.read():
            ests += an.process(item)
    assert ests, "no estimate from ten minutes of E4 data"
    last = ests[-1]
    assert 0.05 < last.metrics["scl_us"] < 60
    assert 30 < last.metrics["hr_bpm"] < 200
    assert last.stress is not None and 0.0 <= last.stress <= 1.0


def test_skin_temperature_switches_to_the_model_that_reads_it(shared_data: Path) -> None:
    """A real E4 session (with TEMP.csv) replayed through the daemon's analyzer: with the
    thermometer's messages the shipped analyzer scores with the temperature model (its
    stress differs from the heart-and-skin model's on the same windows, and the baseline
    holds a resting temperature); without them it is exactly the heart-and-skin model."""
    folder = shared_data / "physio" / "empatica_e4"

    def run(an: PhysioAnalyzer, temperature: bool) -> list[float]:
        src = E4ReplaySource(E4Settings(backend="e4", path=folder, realtime=False,
                                        loop=False, chunk_s=5.0))
        src.open()
        out: list[float] = []
        for _ in range(96):  # eight minutes
            for item in src.read():
                if temperature or getattr(item, "kind", "") != "temp":
                    out += [e.stress for e in an.process(item) if e.stress is not None]
        return out

    plain = StressModel.from_registry()
    shipped = PhysioAnalyzer(calibration_s=60.0)
    warm = run(shipped, True)
    assert shipped.baseline is not None and 25.0 < shipped.baseline["temp_c"] < 40.0
    heart_and_skin = run(PhysioAnalyzer(calibration_s=60.0, model=plain), True)
    assert len(warm) == len(heart_and_skin) > 60
    assert max(abs(a - b) for a, b in zip(warm, heart_and_skin, strict=True)) > 0.01
    assert all(0.0 <= v <= 1.0 for v in warm)
    cold = run(PhysioAnalyzer(calibration_s=60.0), False)
    assert cold == run(PhysioAnalyzer(calibration_s=60.0, model=plain), False)


def test_a_ble_thermometer_at_one_reading_a_second_reaches_the_temperature_model() -> None:
    """The synthetic wearer's ECG, skin conductance and skin temperature at 1 Hz (one
    Health Thermometer indication a second, as the BLE bridge hands them on): the shipped
    analyzer scores with the temperature model (stress differs from the heart-and-skin
    model's on the same windows) and still separates the stress blocks from rest."""
    from edge.messages import BioSamples

    def run(an: PhysioAnalyzer) -> list[tuple[float, float]]:
        heart, wrist = SyntheticPhysio(seed=0), SyntheticPhysio(seed=1)
        out = []
        for sec in range(600):
            t = float(sec)
            for item in (BioSamples(t, "ecg", 130.0, heart.ecg(t, 130), "h10"),
                         BioSamples(t, "eda", 4.0, wrist.eda(t, 4), "eda"),
                         BioSamples(t, "temp", 1.0, np.array([wrist.skin_temp(t)]), "eda")):
                out += [(heart.stress_at(t), e.stress) for e in an.process(item)
                        if e.stress is not None]
        return out

    warm = run(PhysioAnalyzer(calibration_s=60.0))
    plain = run(PhysioAnalyzer(calibration_s=60.0, model=StressModel.from_registry()))
    assert len(warm) == len(plain) > 300
    assert max(abs(a[1] - b[1]) for a, b in zip(warm, plain, strict=True)) > 0.01
    level, stress = np.array(warm[100:]).T  # after the model's first windows
    assert stress[level > 0.9].mean() > stress[level < 0.1].mean() + 0.1


@pytest.mark.parametrize("record", ["103", "112"])
def test_hrv_matches_neurokit2_on_the_same_rr_series(shared_data: Path, record: str) -> None:
    """Five minutes of annotated beats (records whose RR series needs no correction, so
    both tools see the same intervals): SDNN, RMSSD and pNN50 as neurokit2's hrv_time,
    LF/HF as its Lomb-Scargle hrv_frequency within 5 %."""
    nk = pytest.importorskip("neurokit2")
    pytest.importorskip("astropy", reason="neurokit2's lomb method needs astropy")
    wfdb = pytest.importorskip("wfdb")
    import warnings

    from edge.physio.hrv import clean_rr, hrv

    ann = wfdb.rdann(str(shared_data / "physio" / "mitdb" / record), "atr")
    fs = 360
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True)
                      if sym in "NLRej"])
    beats = beats[(beats > 0) & (beats < fs * 300)]
    rr = np.diff(beats) / fs
    assert clean_rr(rr).all()
    ours = hrv(rr, beats[1:] / fs)
    assert ours is not None and ours.lf_hf is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = nk.hrv_time(beats, sampling_rate=fs)
        f = nk.hrv_frequency(beats, sampling_rate=fs, psd_method="lomb")
    assert ours.sdnn_ms == pytest.approx(float(t["HRV_SDNN"].iloc[0]), rel=1e-6)
    assert ours.rmssd_ms == pytest.approx(float(t["HRV_RMSSD"].iloc[0]), rel=1e-6)
    assert ours.pnn50 == pytest.approx(float(t["HRV_pNN50"].iloc[0]), abs=0.1)
    assert ours.lf_hf == pytest.approx(float(f["HRV_LFHF"].iloc[0]), rel=0.05)


@pytest.mark.parametrize("record", ["119", "116"])
def test_nn_hrv_equals_neurokit2_on_the_same_cleaned_series(shared_data: Path,
                                                            record: str) -> None:
    """Records with many premature ventricular beats: our beats classified normal/ectopic
    (Malik + Kamath), then SDNN, RMSSD and pNN50 of the NN intervals equal neurokit2's
    hrv_time on the same NN series given with its beat times (so it, too, takes
    successive differences only between intervals that were adjacent)."""
    nk = pytest.importorskip("neurokit2")
    wfdb = pytest.importorskip("wfdb")
    import warnings

    from edge.physio.hrv import hrv, normal_intervals

    fs = 360
    ann = wfdb.rdann(str(shared_data / "physio" / "mitdb" / record), "atr")
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True)
                      if sym in "NLRejAaJSVEFf"])
    beats = beats[(beats > 0) & (beats < fs * 600)]
    rr = np.diff(beats) / fs
    t = beats[1:] / fs
    nn = normal_intervals(rr)
    assert 0.05 < 1 - nn.mean() < 0.6  # these records do have ectopy to remove
    ours = hrv(rr, t, min_lf_s=np.inf)
    assert ours is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nk.hrv_time({"RRI": rr[nn] * 1e3, "RRI_Time": t[nn]})
    assert ours.sdnn_ms == pytest.approx(float(ref["HRV_SDNN"].iloc[0]), rel=1e-6)
    assert ours.rmssd_ms == pytest.approx(float(ref["HRV_RMSSD"].iloc[0]), rel=1e-6)
    assert ours.pnn50 == pytest.approx(float(ref["HRV_pNN50"].iloc[0]), abs=0.1)


def test_beat_classification_against_mitbih_labels(shared_data: Path) -> None:
    """Intervals touching a beat MIT-BIH labels non-normal are not NN; on records in sinus
    rhythm with ectopy (no atrial fibrillation or flutter) the classifier finds most of
    them and keeps nearly all true NN intervals."""
    wfdb = pytest.importorskip("wfdb")
    from edge.physio.hrv import normal_intervals

    caught = missed = kept = lost = 0
    for record in ("100", "105", "116", "119", "114"):
        ann = wfdb.rdann(str(shared_data / "physio" / "mitdb" / record), "atr")
        pairs = [(s, y) for s, y in zip(ann.sample, ann.symbol, strict=True)
                 if y in "NLRejAaJSVEFfQ/"]
        normal = np.array([y in "NLRej" for _, y in pairs])
        rr = np.diff([s for s, _ in pairs]) / 360.0
        truth = normal[1:] & normal[:-1]
        ours = normal_intervals(rr)
        caught += int((~ours & ~truth).sum())
        missed += int((ours & ~truth).sum())
        kept += int((ours & truth).sum())
        lost += int((~ours & truth).sum())
    assert caught / (caught + missed) >= 0.9, (caught, missed)
    assert kept / (kept + lost) >= 0.99, (kept, lost)


def test_shape_cue_catches_ectopic_beats_the_timing_misses(shared_data: Path) -> None:
    """The daemon's own path at the H10's 130 Hz: beats from the streaming detector, each
    interval labelled as it arrives, with and without the detector's shape cue, against
    MIT-BIH's labels of the matched beats. Record 208 (ventricular bigeminy and couplets:
    no NN interval to anchor the timing) is where the cue matters most."""
    wfdb = pytest.importorskip("wfdb")
    from fractions import Fraction

    from scipy.signal import resample_poly

    from edge.physio.hrv import NNClassifier, ShapeCue
    from edge.physio.rpeaks import StreamingRPeakDetector

    fs = 130.0
    totals = {False: [0, 0, 0, 0], True: [0, 0, 0, 0]}  # caught, missed, kept, lost
    for record in ("105", "114", "116", "119", "208"):
        path = str(shared_data / "physio" / "mitdb" / record)
        rec, ann = wfdb.rdrecord(path), wfdb.rdann(path, "atr")
        frac = Fraction(fs / rec.fs).limit_denominator(1000)
        lead = [n.upper() for n in rec.sig_name].index("MLII")  # 114 records V5 first
        x = resample_poly(rec.p_signal[:, lead] * 1e3, frac.numerator, frac.denominator)
        det = StreamingRPeakDetector(fs)
        beats: list[float] = []
        shapes: list[tuple[float, float]] = []
        for k in range(0, x.size, 260):  # the analyzer's 2-s blocks
            beats += det.process(x[k:k + 260])
            shapes += det.shapes
        pairs = [(t / rec.fs, y) for t, y in zip(ann.sample, ann.symbol, strict=True)
                 if y in "NLRejAaJSVEFfQ/"]
        at = np.array([t for t, _ in pairs])
        normal = []
        for b in beats:
            j = int(np.argmin(np.abs(at - b)))
            normal.append(abs(at[j] - b) < 0.15 and pairs[j][1] in "NLRej")
        truth = np.array(normal[1:]) & np.array(normal[:-1])
        for use in (False, True):
            nnc, cue = NNClassifier(), ShapeCue()
            cue.odd(*shapes[0])
            nn = np.array([nnc.push(beats[i] - beats[i - 1], use and cue.odd(*shapes[i]))
                           for i in range(1, len(beats))])
            t = totals[use]
            t[0] += int((~nn & ~truth).sum())
            t[1] += int((nn & ~truth).sum())
            t[2] += int((nn & truth).sum())
            t[3] += int((~nn & truth).sum())
    caught = {u: t[0] / (t[0] + t[1]) for u, t in totals.items()}
    kept = {u: t[2] / (t[2] + t[3]) for u, t in totals.items()}
    assert caught[True] >= 0.85 and caught[True] > caught[False] + 0.15, caught
    assert kept[True] >= 0.97, kept


def test_hrv_drops_ectopic_intervals_and_needs_two_minutes_for_lf() -> None:
    from edge.physio.hrv import hrv

    rng = np.random.default_rng(1)
    rr = 0.8 + 0.03 * np.sin(2 * np.pi * 0.25 * np.arange(200) * 0.8) + rng.normal(0, 0.005,
                                                                                     200)
    clean = hrv(rr)
    rr_bad = rr.copy()
    rr_bad[50], rr_bad[51] = 0.4, 1.2  # an ectopic beat and its compensatory pause
    h = hrv(rr_bad)
    assert clean is not None and h is not None
    assert h.rmssd_ms == pytest.approx(clean.rmssd_ms, rel=0.05)
    assert h.lf_hf is not None and h.lf_hf < 0.5  # breathing at 0.25 Hz: HF dominates
    short = hrv(rr[:100])  # 80 s: time domain only
    assert short is not None and short.lf_hf is None


def test_baseline_persists_without_identity_and_recalibrates(tmp_path: Path) -> None:
    import json

    path = tmp_path / "state" / "baseline.json"
    first = PhysioAnalyzer(calibration_s=20.0, baseline_path=path)
    ests = _stream(first, 40.0)
    assert any(e.stress is None for e in ests[:5]) and ests[-1].stress is not None
    saved = json.loads(path.read_text())
    assert set(saved) <= {"format", "hr_bpm", "rmssd_ms", "scl_us", "scr_per_min", "norm"}
    assert 40 < saved["hr_bpm"] < 120 and saved["format"] == 2
    # the wearer norm: counts, means and spreads of window features, nothing longer
    assert set(saved["norm"]) == {"n", "mean", "m2", "prev"}
    assert len(saved["norm"]["mean"]) == len(saved["norm"]["m2"]) == 2 * len(ALL_FEATURES)
    # a restart: the baseline and the norm are there at once, no calibration phase
    second = PhysioAnalyzer(calibration_s=20.0, baseline_path=path)
    assert second.baseline == pytest.approx({k: v for k, v in saved.items()
                                             if k not in ("format", "norm")}, abs=1e-3)
    assert second._norm.to_dict() == saved["norm"]
    later = _stream(second, 15.0, seed=1)
    assert later and all(e.stress is not None for e in later if e.metrics.get("hr_bpm"))
    # an explicit calibration starts over and writes a new baseline
    second.recalibrate()
    again = _stream(second, 30.0, seed=2)
    assert any(e.stress is None for e in again) and again[-1].stress is not None
    # a corrupt or implausible file is ignored and counted
    path.write_text('{"format": 1, "hr_bpm": 9000}')
    third = PhysioAnalyzer(calibration_s=20.0, baseline_path=path)
    assert third.baseline is None and third.store is not None and third.store.errors == 1
    path.write_text("not json")
    assert PhysioAnalyzer(baseline_path=path).baseline is None


def test_baseline_adapts_slowly_during_calm() -> None:
    an = PhysioAnalyzer(calibration_s=20.0, adapt_tau_s=60.0)
    _stream(an, 25.0)
    b0 = an.baseline
    assert b0 is not None
    an._adapt({"hr_bpm": b0["hr_bpm"] + 30.0}, stress=0.1)  # one calm window
    assert an.baseline is not None
    assert an.baseline["hr_bpm"] == pytest.approx(b0["hr_bpm"] + 30.0 / 60.0)
    an._adapt({"hr_bpm": b0["hr_bpm"] + 60.0}, stress=0.9)  # a stressed one: no change
    assert an.baseline["hr_bpm"] == pytest.approx(b0["hr_bpm"] + 30.0 / 60.0)


def test_eda_decomposition_on_real_e4_data(shared_data: Path) -> None:
    """A Stress-Predict E4 session (4 Hz, µS): the tonic is NeuroKit2's smooth-median
    tonic away from the ends, tonic + phasic is the signal, and the SCRs found are
    plausible (rate, amplitude, rise time)."""
    nk = pytest.importorskip("neurokit2")
    import warnings

    from edge.physio.eda import MIN_AMPLITUDE_US, analyse, decompose
    from edge.sources.wearable.replay import read_e4_channel

    _, fs, x = read_e4_channel(shared_data / "physio" / "stress_predict" / "Raw_data" / "S02"
                               / "EDA.csv")
    tonic, phasic = decompose(x, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nk.eda_phasic(x, sampling_rate=int(fs), method="smoothmedian")
    edge = int(4 * fs)
    np.testing.assert_allclose(tonic[edge:-edge], ref["EDA_Tonic"].to_numpy()[edge:-edge],
                               atol=1e-12)
    np.testing.assert_allclose(tonic + phasic, x)
    w = analyse(x[: int(600 * fs)], fs)  # ten minutes
    assert w is not None and w.contact and w.fs == 4.0
    assert 0.5 <= w.scr_per_min <= 10
    assert all(s.amplitude_us >= MIN_AMPLITUDE_US and 0 < s.rise_s <= 4.0 for s in w.scrs)
    assert 0.05 < w.scl_us < 30
    # the same window at 32 Hz (as a DIY sensor might send) gives the same result
    w32 = analyse(np.repeat(x[: int(600 * fs)], 8), 32.0)
    assert w32 is not None and len(w32.scrs) == len(w.scrs)
    # a detached sensor and a motion spike are flagged
    off = analyse(np.full(400, 0.01), 4.0)
    assert off is not None and not off.contact
    spike = x[: int(120 * fs)].copy()
    spike[200] += 3.0
    flagged = analyse(spike, 4.0)
    assert flagged is not None and flagged.artefact


def test_shuffled_blocks_keep_the_first_rest_and_every_second(shared_data: Path) -> None:
    from edge.lab.evaluate.stress import load_sessions, order_blocks

    s = load_sessions(shared_data / "physio" / "stress_predict")[0]
    plain, shuffled = order_blocks(s, None), order_blocks(s, 3)
    assert plain[0] == shuffled[0] and plain[0][2] == 0  # the first rest stays first
    assert sorted(plain) == sorted(shuffled) and plain != shuffled
    assert shuffled == order_blocks(s, 3)  # the seed decides
    assert sum(b - a for a, b, _ in shuffled) == s.labels.size
