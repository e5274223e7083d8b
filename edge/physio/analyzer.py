"""Physiology analyzer: ECG beats and EDA level -> heart rate, HRV, arousal, stress.

Streaming R-peaks (`rpeaks`, run on 2-s blocks of ECG), heart rate and HRV over
sliding windows, skin-conductance level and SCR rate (`edge.physio.eda`), a resting
baseline from the first `calibration_s` seconds (persisted, `edge.physio.baseline`),
and stress/arousal from the trained model (`edge.physio.stress_model`): the last
60 s described by twenty-four features (four from skin temperature, when a
thermometer is worn), normalised against the wearer's own past windows, through the
shipped boosted trees. Without skin conductance (a
chest strap alone) the model has no input, and a fixed logistic rule on heart
rate and RMSSD against the baseline (`_score`, documented weights) stands in at
half the quality. The ECG passes the rhythm check (`edge.physio.rhythm`): while it
is flat ("no contact") or organised like flutter/fibrillation ("unreadable") no
beat enters the intervals, no beat-derived figure (HR, HRV, stress) is published,
the estimate's quality is 0 and `stats` names the state. Accepts ECG (µV), EDA
(µS), HR (bpm), RR (s) and skin temperature (°C) messages; emits at most one
estimate per `emit_every_s`.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from pathlib import Path

import numpy as np

from edge.analyzer import Analyzer
from edge.messages import BioSamples, ModalityEstimate, SourceItem
from edge.physio.baseline import SAVE_EVERY_S, BaselineStore
from edge.physio.eda import EdaWindow
from edge.physio.eda import analyse as analyse_eda
from edge.physio.hrv import NNClassifier, ShapeCue, clean_rr, hrv
from edge.physio.rhythm import RhythmMonitor
from edge.physio.rpeaks import StreamingRPeakDetector
from edge.physio.stress_model import (
    CONTEXT,
    TEMPERATURE,
    TEMPERATURE_MODEL_ID,
    WINDOW_S,
    StressModel,
    WearerNorm,
    window_features,
    with_context,
)

_HR_WINDOW_S = 10.0
_HRV_WINDOW_S = 30.0
_LF_WINDOW_S = 120.0
_LF_EVERY_S = 30.0
_EDA_WINDOW_S = 60.0
_TEMP_STALE_S = 5.0
_BASELINE = (("hr", "hr_bpm"), ("rmssd", "rmssd_ms"), ("scl", "scl_us"), ("scr", "scr_per_min"),
             ("temp", "temp_c"))
"""Calibration lists and the baseline entries taken from their medians."""
ECG_BLOCK_S = 2.0
"""ECG is gathered into blocks of this length before the R-peak detector runs: half as
many numpy calls per second as 1-s BLE batches (`affectd bench physio` feeds this
chunk), and beats still reach the 10-s heart rate within 2.5 s of the R wave."""


class _Recent:
    """The last `window_s` seconds of one fixed-rate channel (skin conductance, skin
    temperature) and how many seconds of it have arrived."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.values: deque[float] = deque()
        self.fs = 0.0
        self.seconds = 0.0

    def add(self, s: BioSamples) -> float:
        """Take one message in (a new rate starts afresh); the seconds received so far."""
        if s.fs != self.fs:
            self.values = deque(maxlen=int(self.window_s * s.fs) + 1)
            self.fs = s.fs
        self.values.extend(np.asarray(s.values, dtype=float).tolist())
        self.seconds += s.values.size / s.fs
        return self.seconds

    def array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)


class PhysioAnalyzer(Analyzer):
    name = "physio"
    modality = "physio"

    def __init__(self, calibration_s: float = 60.0, emit_every_s: float = 1.0,
                 baseline_path: Path | None = None, adapt_tau_s: float = 3600.0,
                 model: StressModel | str | None = "shipped",
                 temperature_model: StressModel | None = None) -> None:
        """`baseline_path`: where the personal baseline persists (edge/physio/baseline.py);
        `adapt_tau_s`: time constant of its slow update during calm windows;
        `model`: the stress model ("shipped": the registry's two, the heart-and-skin
        one and the one that also reads skin temperature; None: only the window inputs
        are computed, as training needs, and the fixed rule scores);
        `temperature_model`: with a given `model`, the one for windows with skin
        temperature (none: `model` scores every window)."""
        if model == "shipped":
            model = StressModel.from_registry()
            temperature_model = StressModel.from_registry(model_id=TEMPERATURE_MODEL_ID)
        self.model: StressModel | None = model if isinstance(model, StressModel) else None
        self.temperature_model = temperature_model if self.model is not None else None
        self.calibration_s = calibration_s
        self.emit_every_s = emit_every_s
        self.store = BaselineStore(baseline_path) if baseline_path is not None else None
        self.adapt_tau_s = adapt_tau_s
        self.reset()

    def reset(self) -> None:
        self._det: StreamingRPeakDetector | None = None
        self.rhythm: RhythmMonitor | None = None
        self._ecg_block: list[np.ndarray] = []  # ECG received, not yet through the detector
        self._ecg_t = 0.0  # seconds of ECG received
        self._beats: deque[float] = deque(maxlen=400)
        self._rr: deque[tuple[float, float]] = deque(maxlen=400)  # (time, rr s)
        self._nn: deque[bool] = deque(maxlen=400)  # each interval of _rr: NN (both normal)?
        self._nnc = NNClassifier()  # labels each interval once, as it arrives
        self._shape = ShapeCue()  # the ECG's beats: does this QRS look like the others?
        self._lf_at = -math.inf
        self._lf_hf: float | None = None
        self._hr_notes: deque[tuple[float, float]] = deque(maxlen=120)
        self._eda = _Recent(_EDA_WINDOW_S)
        self._hr_t = 0.0  # seconds of heart-rate notifications received
        self._eda_window: EdaWindow | None = None
        self._temp = _Recent(WINDOW_S)
        self._t = 0.0  # seconds of signal seen (longest channel)
        self._last_emit = -1e9
        self._calib: dict[str, list[float]] = {key: [] for key, _ in _BASELINE}
        self._baseline: dict[str, float] | None = self.store.load() if self.store else None
        self._calib_until = self.calibration_s
        self._recalibrate = False
        self._saved_at = 0.0
        self._dirty = False
        self._norm = self._stored_norm()
        self._context: deque[np.ndarray] = deque(maxlen=CONTEXT)
        """Model inputs at the ends of the last `CONTEXT` windows, oldest first."""
        self._window_end = math.inf  # end of the next 60-s window (set at calibration)
        self.windows: deque[tuple[float, np.ndarray]] = deque(maxlen=1000)
        """(end time, raw features) of each completed window, newest last."""

    def _stored_norm(self) -> WearerNorm:
        stored = self.store.norm if self.store and self._baseline else None
        if stored is not None:
            try:
                return WearerNorm.from_dict(stored)
            except (KeyError, TypeError, ValueError):
                self.store.errors += 1  # type: ignore[union-attr]
        return self._fresh_norm()

    def _fresh_norm(self) -> WearerNorm:
        prior = self.temperature_model or self.model  # the one reading more features
        return WearerNorm(prior.full_prior() if prior else None)

    def recalibrate(self) -> None:
        """Start a new baseline from the next `calibration_s` seconds (the wearer rests);
        safe to call from another thread: it takes effect with the next samples."""
        self._recalibrate = True

    # -- ingestion ---------------------------------------------------------
    def _ingest(self, s: BioSamples) -> None:
        if s.kind == "ecg":
            if self._det is None or self._det.fs != s.fs:
                self._det = StreamingRPeakDetector(s.fs)
                self.rhythm = RhythmMonitor(s.fs)
                self._ecg_t = 0.0
                self._ecg_block = []
            self._ecg_block.append(np.asarray(s.values, dtype=np.float64))
            self._ecg_t += s.values.size / s.fs
            self._t = max(self._t, self._ecg_t)
            if sum(b.size for b in self._ecg_block) >= ECG_BLOCK_S * s.fs:
                self._detect(np.concatenate(self._ecg_block))
                self._ecg_block = []
        elif s.kind == "eda":
            self._t = max(self._t, self._eda.add(s))
        elif s.kind == "temp":
            self._t = max(self._t, self._temp.add(s))
        elif self._det is not None:
            return  # beats come from the ECG; the strap's own HR/RR would count them twice
        elif s.kind == "hr":
            for v in s.values:  # notifications on their own clock (1 Hz when fs is 0)
                self._hr_t += 1.0 if s.fs == 0 else 1.0 / s.fs
                self._hr_notes.append((self._hr_t, float(v)))
            self._t = max(self._t, self._hr_t)
        elif s.kind == "rr":
            for rr in s.values:
                t = (self._rr[-1][0] if self._rr else self._t) + float(rr)
                self._rr.append((t, float(rr)))
                self._nn.append(self._nnc.push(float(rr)))
                self._t = max(self._t, t)

    def _detect(self, ecg: np.ndarray) -> None:
        assert self._det is not None and self.rhythm is not None
        found = self._det.process(ecg)
        # the rhythm check reads the last 8 s of beats: hand it only the recent tail
        # (under 300 bpm, 48 beats cover more than 8 s), not every beat kept
        tail = list(itertools.islice(reversed(self._beats), 48))[::-1]
        self.rhythm.process(ecg, [*tail, *found])
        readable = self.rhythm.state == "ok"
        for b, (slope, shape) in zip(found, self._det.shapes, strict=True):
            odd = self._shape.odd(slope, shape)
            if readable and self._beats and 0.25 < b - self._beats[-1] < 2.5:
                self._rr.append((b, b - self._beats[-1]))
                self._nn.append(self._nnc.push(b - self._beats[-1], odd))
            self._beats.append(b)

    def signal_faults(self) -> list[str]:
        state = self.rhythm.state if self.rhythm is not None else "ok"
        return {"ok": [], "no_contact": ["ecg: no contact"],
                "unreadable": ["ecg: rhythm unreadable"]}[state]

    # -- features ------------------------------------------------------------
    def _recent_rr(self, window_s: float) -> list[tuple[float, float, bool]]:
        """(time, RR, NN?) of the intervals of the last `window_s`, oldest first: read
        from the newest end (times only grow), not over all the intervals kept."""
        now = self._t
        tail = itertools.takewhile(lambda e: now - e[0][0] <= window_s,
                                   zip(reversed(self._rr), reversed(self._nn), strict=True))
        return [(t, r, n) for (t, r), n in tail][::-1]

    def _features(self) -> dict[str, float]:
        f: dict[str, float] = {}
        now = self._t
        win = self._recent_rr(_HRV_WINDOW_S)
        rr = np.array([r for _, r, _ in win])
        if rr.size:
            good = rr[clean_rr(rr)]  # drop ectopic/missed-beat intervals (edge/physio/hrv.py)
            f["rr_valid"] = good.size / rr.size
            # beats classified normal/ectopic (Malik + Kamath, edge/physio/hrv.py): the share
            # of intervals that are not NN; HRV below is computed on the NN ones only
            nn = np.array([n for _, _, n in win], dtype=bool)
            f["ectopic_pct"] = 100.0 * (1.0 - float(nn.mean()))
            recent = np.array([r for t, r, _ in win if now - t <= _HR_WINDOW_S])
            recent = recent[clean_rr(recent)]
            if recent.size:
                f["hr_bpm"] = 60.0 / float(np.mean(recent))
            times = np.array([t for t, _, _ in win])
            h = hrv(rr, times, min_lf_s=math.inf, nn_mask=nn)
            if h is not None and good.size > 5:
                f["rmssd_ms"], f["sdnn_ms"], f["pnn50"] = h.rmssd_ms, h.sdnn_ms, h.pnn50
            if now - self._lf_at >= _LF_EVERY_S:  # the spectrum moves slowly: every 30 s
                self._lf_at = now
                lf_rr = self._recent_rr(_LF_WINDOW_S)
                hl = hrv(np.array([r for _, r, _ in lf_rr]), np.array([t for t, _, _ in lf_rr]),
                         min_lf_s=0.9 * _LF_WINDOW_S,
                         nn_mask=np.array([n for _, _, n in lf_rr], dtype=bool)) \
                    if len(lf_rr) > 30 else None
                self._lf_hf = None if hl is None or hl.lf_hf is None else min(100.0, hl.lf_hf)
            if self._lf_hf is not None:
                f["lf_hf"] = self._lf_hf
        elif self._hr_notes:
            f["hr_bpm"] = float(np.mean([v for t, v in self._hr_notes if now - t <= _HR_WINDOW_S]
                                        or [self._hr_notes[-1][1]]))
            f["rr_valid"] = 1.0
        w = analyse_eda(self._eda.array(), self._eda.fs) if self._eda.fs > 0 else None
        self._eda_window = w
        if w is not None:  # tonic/phasic split, SCRs, flags: edge/physio/eda.py
            f["scl_us"] = w.scl_us
            f["scr_per_min"] = w.scr_per_min
            f["eda_contact"] = float(w.contact and not w.artefact)
        temp = self._recent_temp()
        if temp is not None:  # a glitch (NaN) leaves it out rather than spoil the baseline
            level = float(temp[-max(1, int(_HR_WINDOW_S * self._temp.fs)):].mean())
            if math.isfinite(level):
                f["temp_c"] = level
        return f

    def _recent_temp(self) -> np.ndarray | None:
        """The last 60 s of skin temperature (°C), None when no thermometer is worn or
        it has been silent for more than `_TEMP_STALE_S`."""
        if not self._temp.values or self._t - self._temp.seconds > _TEMP_STALE_S:
            return None
        return self._temp.array()

    def _score(self, f: dict[str, float], base: dict[str, float]) -> tuple[float, float]:
        """Fixed logistic rule on baseline-relative features -> (arousal, stress)."""
        z = 0.0
        n = 0
        if "hr_bpm" in f and "hr_bpm" in base:
            z += (f["hr_bpm"] - base["hr_bpm"]) / max(5.0, 0.08 * base["hr_bpm"])
            n += 1
        if "rmssd_ms" in f and base.get("rmssd_ms", 0) > 0:
            z += -math.log(max(f["rmssd_ms"], 1.0) / base["rmssd_ms"]) / 0.4
            n += 1
        if "scl_us" in f and "scl_us" in base:
            z += (f["scl_us"] - base["scl_us"]) / max(0.3, 0.2 * base["scl_us"])
            n += 1
        if "scr_per_min" in f and "scr_per_min" in base:
            z += (f["scr_per_min"] - base["scr_per_min"]) / 3.0
            n += 1
        z /= max(1, n)
        arousal = math.tanh(0.8 * z)
        stress = 1.0 / (1.0 + math.exp(-(2.0 * z - 1.5)))
        return arousal, stress

    def _hr_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(time, bpm) of the heart rate in the last window: from beat intervals (ECG
        or RR messages, ectopic ones dropped) or else from HR notifications."""
        now = self._t
        pts = [(t, r) for t, r, _ in self._recent_rr(WINDOW_S)]
        if pts:
            a = np.array(pts)
            a = a[clean_rr(a[:, 1])]
            return a[:, 0], 60.0 / a[:, 1]
        b = np.array([(t, v) for t, v in self._hr_notes if now - t <= WINDOW_S]).reshape(-1, 2)
        return b[:, 0], b[:, 1]

    def _model_stress(self) -> tuple[float, float] | None:
        """(arousal, stress) from the model on the last 60 s, None without its inputs.
        At each window's end the wearer's norm takes the window in."""
        if self._eda_window is None or self._baseline is None:
            return None
        t, v = self._hr_points()
        raw = window_features(t, v, self._t, self._eda_window, self._baseline,
                              self._recent_temp(), self._temp.fs)
        if raw is None:
            return None
        inputs = self._norm.inputs(raw)
        context = list(self._context)
        if self._t >= self._window_end:
            self._norm.update(raw)
            self._context.append(inputs)
            self._dirty = True
            self.windows.append((self._t, raw))
            self._window_end += WINDOW_S
        model = self.model
        if model is None:
            return None
        if self.temperature_model is not None and not np.isnan(raw[-len(TEMPERATURE):]).any():
            model = self.temperature_model  # a thermometer is worn
        cols = model.input_columns
        p = model.probability(with_context(inputs[cols], [c[cols] for c in context]))
        return 2.0 * p - 1.0, p

    def _quality(self, f: dict[str, float]) -> float:
        parts = []
        if "rr_valid" in f:
            parts.append(f["rr_valid"])
        if "eda_contact" in f:
            parts.append(f["eda_contact"])
        return float(np.clip(np.mean(parts), 0.0, 1.0)) if parts else 0.0

    def _adapt(self, f: dict[str, float], stress: float) -> None:
        """Calm windows pull the baseline slowly towards the present (time constant
        `adapt_tau_s`), so it follows a wearer's days without chasing a stressful hour."""
        if self._baseline is None or stress >= 0.3 or self.adapt_tau_s <= 0:
            return
        alpha = min(1.0, self.emit_every_s / self.adapt_tau_s)
        for key in self._baseline:
            if key in f and key != "temp_c":
                self._baseline[key] += alpha * (f[key] - self._baseline[key])
                self._dirty = True

    def _save(self, now: bool = False) -> None:
        """Persist baseline and wearer norm: at once, or when changed and at most every
        `SAVE_EVERY_S` (SD cards wear out)."""
        if self.store is None or not self._baseline:
            return
        if now or (self._dirty and self._t - self._saved_at >= SAVE_EVERY_S):
            self.store.save(self._baseline, self._norm.to_dict())
            self._saved_at, self._dirty = self._t, False

    @property
    def baseline(self) -> dict[str, float] | None:
        return None if self._baseline is None else dict(self._baseline)

    # -- main entry ------------------------------------------------------------
    def process(self, item: SourceItem) -> list[ModalityEstimate]:
        if not isinstance(item, BioSamples):
            return []
        self._ingest(item)
        if self._recalibrate:
            self._recalibrate = False
            self._baseline = None
            self._calib = {key: [] for key, _ in _BASELINE}
            self._calib_until = self._t + self.calibration_s
            self._window_end = math.inf
            self._context.clear()
            self._norm = self._fresh_norm()  # a new rest, perhaps a new wearer: start afresh
        if self._t - self._last_emit < self.emit_every_s:
            return []
        self._last_emit = self._t
        f = self._features()
        if not f:
            return []
        if self._baseline is None:
            for key, name in _BASELINE:
                if name in f:
                    self._calib[key].append(f[name])
            if self._t >= self._calib_until:
                self._baseline = {name: float(np.median(self._calib[key]))
                                  for key, name in _BASELINE if self._calib[key]}
                self._save(now=True)
        metrics = {k: round(v, 2) for k, v in f.items()
                   if k in ("hr_bpm", "rmssd_ms", "sdnn_ms", "pnn50", "lf_hf", "ectopic_pct",
                            "scl_us", "scr_per_min")}
        quality = self._quality(f)
        if self.signal_faults():
            # No beat sequence to read: nothing beat-derived, and fusion ignores it.
            eda_only = {k: v for k, v in metrics.items() if k in ("scl_us", "scr_per_min")}
            return [ModalityEstimate("physio", item.ts, 0.0, metrics=eda_only,
                                     count=len(self._beats))]
        if self._baseline is None:
            # Calibrating: report measurements but no arousal/stress judgement yet.
            return [ModalityEstimate("physio", item.ts, quality * 0.2, metrics=metrics,
                                     count=len(self._beats))]
        if self._window_end == math.inf:
            self._window_end = self._t + WINDOW_S
        scored = self._model_stress()
        if scored is None:  # no skin conductance: the fixed rule, trusted half as much
            scored = self._score(f, self._baseline)
            quality *= 0.5
        arousal, stress = scored
        self._adapt(f, stress)
        self._save()
        return [ModalityEstimate("physio", item.ts, quality, arousal=arousal, stress=stress,
                                 metrics=metrics, count=len(self._beats))]
