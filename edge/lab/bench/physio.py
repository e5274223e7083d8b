"""`affectd bench physio [--vs neurokit2] [--chunk-s S]`: R-peak detection throughput
(x real time) on MIT-BIH record 100 at 130 Hz, ours fed in S-second chunks (default
`ECG_BLOCK_S`, 2 s: the blocks the physiology analyzer gathers ECG into before it
runs the detector; `rpeak_by_chunk` also gives 0.56 s, one Polar H10 PMD frame, and
1 and 5 s) against neurokit2's batch `ecg_clean` + `ecg_peaks` on the whole signal,
side by side in the same process, with both detectors' F1 on the same record; and
the ECG path of the analyzer alone (detector, beat classification, rhythm check, HR and
HRV: `ecg_path_x_realtime` and its ratio to neurokit2's detector, both run on the whole
record and run as a stream must, at the analyzer's block size: `peer_blocks`), and the whole
ECG+EDA analyzer path (ECG in 1-s messages, best of the repeats), with a real
wrist EDA recording (an Empatica E4's, looped to the ECG's length) when one is given:
real skin conductance has the small responses and noise a smooth test signal lacks,
and those are what the skin-conductance analysis spends its time on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.lab.evaluate.ecg import BEAT_SYMBOLS, match
from edge.messages import BioSamples
from edge.physio.analyzer import ECG_BLOCK_S, PhysioAnalyzer
from edge.physio.rpeaks import StreamingRPeakDetector


def _record(path: Path, fs: float) -> tuple[np.ndarray, np.ndarray]:
    import wfdb
    from scipy.signal import resample_poly

    rec = wfdb.rdrecord(str(path), channels=[0])
    ann = wfdb.rdann(str(path), "atr")
    x = resample_poly(rec.p_signal[:, 0] * 1000.0, 13, 36) if fs == 130 else \
        rec.p_signal[:, 0] * 1000.0
    truth = np.array([s / rec.fs for s, sym in zip(ann.sample, ann.symbol, strict=True)
                      if sym in BEAT_SYMBOLS])
    return x, truth


def _f1(found: np.ndarray, truth: np.ndarray) -> float:
    tp, fn, fp = match(found, truth)
    return round(2 * tp / max(1, 2 * tp + fn + fp), 5)


def _rpeak_run(x: np.ndarray, fs: float, chunk: int, repeats: int) -> tuple[float, list[float]]:
    """Best time of `repeats` runs of the streaming detector over x in `chunk`-sample
    pieces, and the beats it found."""
    best = float("inf")
    found: list[float] = []
    for _ in range(repeats):
        det = StreamingRPeakDetector(fs)
        found = []
        t0 = time.perf_counter()
        for k in range(0, x.size, chunk):
            found += det.process(x[k:k + chunk])
        best = min(best, time.perf_counter() - t0)
    return best, found


def _analyzer_run(x: np.ndarray, fs: float, eda: np.ndarray | None, repeats: int) -> float:
    """Best time of `repeats` runs of the physiology analyzer over x in 1-s ECG messages
    (and 1-s EDA messages at 4 Hz when `eda` is given)."""
    best = float("inf")
    for _ in range(repeats):
        an = PhysioAnalyzer(calibration_s=60.0)
        t0 = time.perf_counter()
        for s in range(int(x.size / fs)):
            an.process(BioSamples(float(s), "ecg", fs, x[int(s * fs):int((s + 1) * fs)]))
            if eda is not None:
                an.process(BioSamples(float(s), "eda", 4.0, eda[s * 4:(s + 1) * 4]))
        best = min(best, time.perf_counter() - t0)
    return best


def _peer_blocks(x: np.ndarray, fs: float, chunk: int, repeats: int) -> tuple[float, list[float]]:
    """neurokit2's `ecg_clean` + `ecg_peaks` run as a streaming device must: on each new
    block of `chunk` samples with the previous second before it as context (its filters
    and thresholds need one), keeping the peaks in the new block. Best time, beats."""
    import neurokit2 as nk

    ctx = int(fs)
    best = float("inf")
    found: list[float] = []
    for _ in range(repeats):
        found = []
        t0 = time.perf_counter()
        for k in range(0, x.size, chunk):
            lo = max(0, k - ctx)
            seg = x[lo:k + chunk]
            if seg.size < fs:  # neurokit2 needs about a second to clean and detect
                continue
            _, info = nk.ecg_peaks(nk.ecg_clean(seg, sampling_rate=int(fs)),
                                   sampling_rate=int(fs))
            found += [(lo + int(i)) / fs for i in info["ECG_R_Peaks"] if lo + int(i) >= k]
        best = min(best, time.perf_counter() - t0)
    return best, found


def bench_physio(record: Path, peer: bool = True, repeats: int = 3,
                 chunk_s: float = ECG_BLOCK_S, eda_csv: Path | None = None) -> dict[str, Any]:
    fs = 130.0
    x, truth = _record(record, 130)
    seconds = x.size / fs
    best, found = _rpeak_run(x, fs, max(1, round(chunk_s * fs)), repeats)
    out: dict[str, Any] = {"record": record.name, "fs": fs, "seconds": round(seconds, 1),
                           "chunk_s": chunk_s, "rpeak_x_realtime": round(seconds / best),
                           "f1": _f1(np.asarray(found), truth)}
    out["rpeak_by_chunk"] = {
        str(c): round(seconds / _rpeak_run(x, fs, max(1, round(c * fs)), repeats)[0])
        for c in (0.56, 1.0, 2.0, 5.0)}
    # the whole analyzer: ECG at 130 Hz plus EDA at 4 Hz, in 1-second messages
    n_eda = int(seconds * 4)
    if eda_csv is not None:
        from edge.sources.wearable.replay import read_e4_channel

        _, rate, real = read_e4_channel(eda_csv)
        if rate != 4.0:
            raise ValueError(f"{eda_csv}: expected 4 Hz EDA, got {rate:g} Hz")
        eda = np.resize(real, n_eda)  # looped
        out["eda"] = eda_csv.parent.name
    else:
        eda = 2.0 + 0.1 * np.sin(np.arange(n_eda) / 40.0)
        out["eda"] = "synthetic (smooth)"
    out["x_realtime"] = round(seconds / _analyzer_run(x, fs, eda, repeats))
    # the ECG path alone: detector, beat classification, rhythm check, HR and HRV
    out["ecg_path_x_realtime"] = round(seconds / _analyzer_run(x, fs, None, repeats))
    if peer:
        import neurokit2 as nk

        best_p = float("inf")
        peaks: Any = None
        for _ in range(repeats):
            t0 = time.perf_counter()
            _, info = nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=130), sampling_rate=130)
            best_p = min(best_p, time.perf_counter() - t0)
            peaks = info["ECG_R_Peaks"]
        out["peer"] = f"neurokit2 {nk.__version__} ecg_clean + ecg_peaks"
        out["peer_x_realtime"] = round(seconds / best_p)
        out["f1_peer"] = _f1(np.asarray(peaks) / fs, truth)
        out["ratio_vs_peer"] = round(out["rpeak_x_realtime"] / out["peer_x_realtime"], 3)
        out["ecg_path_ratio_vs_peer"] = round(
            out["ecg_path_x_realtime"] / out["peer_x_realtime"], 3)
        best_b, beats_b = _peer_blocks(x, fs, max(1, round(chunk_s * fs)), repeats)
        out["peer_blocks_x_realtime"] = round(seconds / best_b)
        out["f1_peer_blocks"] = _f1(np.asarray(beats_b), truth)
        out["ecg_path_ratio_vs_peer_blocks"] = round(
            out["ecg_path_x_realtime"] / out["peer_blocks_x_realtime"], 3)
    return out
