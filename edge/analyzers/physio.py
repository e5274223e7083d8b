"""Physiology analyzer: ECG beats and EDA level -> heart rate, HRV, arousal, stress.

First version of the physiology path: streaming R-peaks (`rpeaks`), heart rate
and RMSSD over sliding windows, skin-conductance level and SCR rate, a resting
baseline from the first `calibration_s` seconds, and arousal/stress from the
baseline-relative features with a fixed logistic rule (weights below,
documented, not fitted). The trained stress model and personal baselines that
persist come with the physiology work (issue 7) and replace `_score`.
Accepts ECG (µV), EDA (µS), HR (bpm) and RR (s) messages; emits at most one
estimate per `emit_every_s`.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

import numpy as np

from edge.analyzers.base import Analyzer
from edge.analyzers.rpeaks import StreamingRPeakDetector
from edge.messages import BioSamples, ModalityEstimate, SourceItem
from edge.physio.baseline import SAVE_EVERY_S, BaselineStore
from edge.physio.eda import analyse as analyse_eda
from edge.physio.hrv import clean_rr, hrv

_HR_WINDOW_S = 10.0
_HRV_WINDOW_S = 30.0
_LF_WINDOW_S = 120.0
_LF_EVERY_S = 30.0
_EDA_WINDOW_S = 60.0


class PhysioAnalyzer(Analyzer):
    name = "physio"
    modality = "physio"

    def __init__(self, calibration_s: float = 60.0, emit_every_s: float = 1.0,
                 baseline_path: Path | None = None, adapt_tau_s: float = 3600.0) -> None:
        """`baseline_path`: where the personal baseline persists (edge/physio/baseline.py);
        `adapt_tau_s`: time constant of its slow update during calm windows."""
        self.calibration_s = calibration_s
        self.emit_every_s = emit_every_s
        self.store = BaselineStore(baseline_path) if baseline_path is not None else None
        self.adapt_tau_s = adapt_tau_s
        self.reset()

    def reset(self) -> None:
        self._det: StreamingRPeakDetector | None = None
        self._ecg_t = 0.0  # seconds of ECG received
        self._beats: deque[float] = deque(maxlen=400)
        self._rr: deque[tuple[float, float]] = deque(maxlen=400)  # (time, rr s)
        self._lf_at = -math.inf
        self._lf_hf: float | None = None
        self._hr_notes: deque[tuple[float, float]] = deque(maxlen=120)
        self._eda: deque[float] = deque()
        self._eda_fs = 0.0
        self._eda_t = 0.0  # seconds of EDA received
        self._t = 0.0  # seconds of signal seen (longest channel)
        self._last_emit = -1e9
        self._calib: dict[str, list[float]] = {"hr": [], "rmssd": [], "scl": [], "scr": []}
        self._baseline: dict[str, float] | None = self.store.load() if self.store else None
        self._calib_until = self.calibration_s
        self._recalibrate = False
        self._saved_at = 0.0
        self._dirty = False

    def recalibrate(self) -> None:
        """Start a new baseline from the next `calibration_s` seconds (the wearer rests);
        safe to call from another thread: it takes effect with the next samples."""
        self._recalibrate = True

    # -- ingestion ---------------------------------------------------------
    def _ingest(self, s: BioSamples) -> None:
        if s.kind == "ecg":
            if self._det is None or self._det.fs != s.fs:
                self._det = StreamingRPeakDetector(s.fs)
                self._ecg_t = 0.0
            for b in self._det.process(s.values):
                if self._beats and 0.25 < b - self._beats[-1] < 2.5:
                    self._rr.append((b, b - self._beats[-1]))
                self._beats.append(b)
            self._ecg_t += s.values.size / s.fs
            self._t = max(self._t, self._ecg_t)
        elif s.kind == "eda":
            if s.fs != self._eda_fs:
                self._eda = deque(maxlen=int(_EDA_WINDOW_S * s.fs) + 1)
                self._eda_fs = s.fs
            self._eda.extend(np.asarray(s.values, dtype=float).tolist())
            self._eda_t += s.values.size / s.fs
            self._t = max(self._t, self._eda_t)
        elif self._det is not None:
            return  # beats come from the ECG; the strap's own HR/RR would count them twice
        elif s.kind == "hr":
            for v in s.values:
                self._t += 1.0 if s.fs == 0 else 1.0 / s.fs
                self._hr_notes.append((self._t, float(v)))
        elif s.kind == "rr":
            for rr in s.values:
                t = (self._rr[-1][0] if self._rr else self._t) + float(rr)
                self._rr.append((t, float(rr)))
                self._t = max(self._t, t)

    # -- features ------------------------------------------------------------
    def _features(self) -> dict[str, float]:
        f: dict[str, float] = {}
        now = self._t
        rr = np.array([r for t, r in self._rr if now - t <= _HRV_WINDOW_S])
        if rr.size:
            good = rr[clean_rr(rr)]  # drop ectopic/missed-beat intervals (edge/physio/hrv.py)
            f["rr_valid"] = good.size / rr.size
            recent = np.array([r for t, r in self._rr if now - t <= _HR_WINDOW_S])
            recent = recent[clean_rr(recent)]
            if recent.size:
                f["hr_bpm"] = 60.0 / float(np.mean(recent))
            times = np.array([t for t, _ in self._rr if now - t <= _HRV_WINDOW_S])
            h = hrv(rr, times, min_lf_s=math.inf)
            if h is not None and good.size > 5:
                f["rmssd_ms"], f["sdnn_ms"], f["pnn50"] = h.rmssd_ms, h.sdnn_ms, h.pnn50
            if now - self._lf_at >= _LF_EVERY_S:  # the spectrum moves slowly: every 30 s
                self._lf_at = now
                lf_rr = [(t, r) for t, r in self._rr if now - t <= _LF_WINDOW_S]
                hl = hrv(np.array([r for _, r in lf_rr]), np.array([t for t, _ in lf_rr]),
                         min_lf_s=0.9 * _LF_WINDOW_S) if len(lf_rr) > 30 else None
                self._lf_hf = None if hl is None or hl.lf_hf is None else min(100.0, hl.lf_hf)
            if self._lf_hf is not None:
                f["lf_hf"] = self._lf_hf
        elif self._hr_notes:
            f["hr_bpm"] = float(np.mean([v for t, v in self._hr_notes if now - t <= _HR_WINDOW_S]
                                        or [self._hr_notes[-1][1]]))
            f["rr_valid"] = 1.0
        w = analyse_eda(np.asarray(self._eda), self._eda_fs) if self._eda_fs > 0 else None
        if w is not None:  # tonic/phasic split, SCRs, flags: edge/physio/eda.py
            f["scl_us"] = w.scl_us
            f["scr_per_min"] = w.scr_per_min
            f["eda_contact"] = float(w.contact and not w.artefact)
        return f

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
            if key in f:
                self._baseline[key] += alpha * (f[key] - self._baseline[key])
                self._dirty = True
        if self.store is not None and self._dirty and self._t - self._saved_at >= SAVE_EVERY_S:
            self.store.save(self._baseline)
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
            self._calib = {"hr": [], "rmssd": [], "scl": [], "scr": []}
            self._calib_until = self._t + self.calibration_s
        if self._t - self._last_emit < self.emit_every_s:
            return []
        self._last_emit = self._t
        f = self._features()
        if not f:
            return []
        if self._baseline is None:
            for key, name in (("hr", "hr_bpm"), ("rmssd", "rmssd_ms"), ("scl", "scl_us"),
                              ("scr", "scr_per_min")):
                if name in f:
                    self._calib[key].append(f[name])
            if self._t >= self._calib_until:
                self._baseline = {name: float(np.median(self._calib[key]))
                                  for key, name in (("hr", "hr_bpm"), ("rmssd", "rmssd_ms"),
                                                    ("scl", "scl_us"), ("scr", "scr_per_min"))
                                  if self._calib[key]}
                if self.store is not None and self._baseline:
                    self.store.save(self._baseline)
                    self._saved_at = self._t
        metrics = {k: round(v, 2) for k, v in f.items()
                   if k in ("hr_bpm", "rmssd_ms", "sdnn_ms", "pnn50", "lf_hf", "scl_us",
                            "scr_per_min")}
        quality = self._quality(f)
        if self._baseline is None:
            # Calibrating: report measurements but no arousal/stress judgement yet.
            return [ModalityEstimate("physio", item.ts, quality * 0.2, metrics=metrics,
                                     count=len(self._beats))]
        arousal, stress = self._score(f, self._baseline)
        self._adapt(f, stress)
        return [ModalityEstimate("physio", item.ts, quality, arousal=arousal, stress=stress,
                                 metrics=metrics, count=len(self._beats))]
