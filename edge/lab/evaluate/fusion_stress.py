"""The stress half of `affectd eval fusion`: voice clips paired with physiology windows.

Stress is the one quantity physiology and voice both carry (physiology measures
it against the wearer's baseline; the voice implies it through arousal and
valence, `edge.fusion.voice_stress`). The pairs, documented as pseudo-multimodal:

- physiology: every Stress-Predict subject (Empatica E4 EDA + HR) streamed
  through the daemon's `PhysioAnalyzer` as the daemon would (baseline from the
  session's first minutes, which are rest), cut into 60-s windows; a window's
  label is the majority of `labels_per_second.csv` in it (0 rest, 1 stress) and its
  estimate the analyzer's output at the window's end. The shipped stress model
  has seen every subject, so here the analyzer runs the same recipe fitted on
  the even-numbered participants only (`fit_model`, their blocks in the five
  training orders): the odd-numbered test participants are unseen;
- voice: the held-out speech clips (the same test speakers as the categorical
  pairs) labelled stress when the acted emotion is angry or fearful and no stress
  when neutral, happy or sad (disgust and surprise are left out as ambiguous);
- each clip is paired with a window of the same label, without replacement until
  a label runs out, with a fixed seed;
- the voice's stress weight is fitted (models/training/fusion.py) on the speech
  calibration speakers with the even-numbered participants; the test uses the
  held-out speakers with the odd-numbered ones.

Reported: balanced accuracy (threshold 0.5) of the fused stress, of each modality
alone on the same pairs, and with each one removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.circumplex import valence_arousal
from edge.fusion import LateFusion
from edge.lab.evaluate.stress import balanced_accuracy
from edge.messages import EMOTIONS, ModalityEstimate
from edge.physio.stress_model import WINDOW_S
from edge.settings import FusionSettings

STRESSED = {"angry", "fear"}
CALM = {"neutral", "happy", "sad"}


def physio_windows(root: Path, calibration_s: float = 180.0
                   ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64],
                              npt.NDArray[np.int64]]:
    """(stress at each window's end, label, participant) over the Stress-Predict subjects."""
    from edge.physio.analyzer import PhysioAnalyzer
    from edge.sources.base import EndOfStream
    from edge.sources.wearable.e4 import E4ReplaySource, E4Settings
    from edge.sources.wearable.replay import read_e4_channel

    # columns Participant, HR, respr, Time(sec), Label; some HR cells are empty
    labels = np.genfromtxt(root / "labels_per_second.csv", delimiter=",", skip_header=1,
                           usecols=(0, 3, 4))
    labels = labels[np.all(np.isfinite(labels), axis=1)]
    from edge.lab.evaluate.stress import TRAIN_SEEDS, collect, fit_model

    model = fit_model(*collect(root, TRAIN_SEEDS, calibration_s, calibration_subject))
    stress, ys, who = [], [], []
    for folder in sorted((root / "Raw_data").glob("S*")):
        if not (folder / "EDA.csv").exists():
            continue
        participant = int(folder.name[1:])
        mine = labels[labels[:, 0] == participant]
        if mine.size == 0:
            continue
        by_second = dict(zip(mine[:, 1].astype(np.int64).tolist(), mine[:, 2].tolist(),
                             strict=True))
        start = read_e4_channel(folder / "EDA.csv")[0]
        src = E4ReplaySource(E4Settings(enabled=True, backend="e4", path=folder,
                                        realtime=False, loop=False, chunk_s=1.0))
        analyzer = PhysioAnalyzer(calibration_s, model=model)
        src.open()
        last: float | None = None
        edge = calibration_s + WINDOW_S
        try:
            while True:
                for item in src.read():
                    for est in analyzer.process(item):
                        last = est.stress
                t = src.position_s
                if t >= edge:
                    secs = [by_second.get(int(start + s)) for s in range(int(edge - WINDOW_S),
                                                                         int(edge))]
                    known = [v for v in secs if v is not None]
                    if last is not None and len(known) > WINDOW_S / 2:
                        stress.append(last)
                        ys.append(int(np.mean(known) >= 0.5))
                        who.append(participant)
                    edge += WINDOW_S
        except EndOfStream:
            pass
        finally:
            src.close()
    return np.array(stress), np.array(ys), np.array(who)


def calibration_subject(participant: int) -> bool:
    """Even-numbered Stress-Predict participants fit the fusion; odd ones test it."""
    return participant % 2 == 0


def stress_pairs(voice: npt.NDArray[np.float64], voice_y: npt.NDArray[np.int64],
                 phys: npt.NDArray[np.float64], phys_y: npt.NDArray[np.int64], seed: int
                 ) -> tuple[list[dict[str, ModalityEstimate]], npt.NDArray[np.int64]]:
    """Voice clips (acted emotion -> stress label) each with a same-label window."""
    names = [EMOTIONS[i] for i in voice_y]
    rng = np.random.default_rng(seed)
    pools = {c: list(rng.permutation(np.flatnonzero(phys_y == c))) for c in (0, 1)}
    pairs, labels = [], []
    for p, name in zip(voice, names, strict=True):
        if name not in STRESSED | CALM:
            continue
        label = int(name in STRESSED)
        if not pools[label]:
            pools[label] = list(rng.permutation(np.flatnonzero(phys_y == label)))
        window = pools[label].pop()
        v, a = valence_arousal(p.tolist())
        pairs.append({"voice": ModalityEstimate("voice", 0.0, 1.0, probs=tuple(map(float, p)),
                                                valence=v, arousal=a),
                      "physio": ModalityEstimate("physio", 0.0, 1.0,
                                                 stress=float(phys[window]))})
        labels.append(label)
    return pairs, np.array(labels)


def fused_stress(pair: dict[str, ModalityEstimate], settings: FusionSettings,
                 modalities: tuple[str, ...]) -> float | None:
    f = LateFusion(settings, modalities)
    for m in modalities:
        f.update(pair[m])
    return f.fuse(now=0.0, wall=0.0).stress


def evaluate_stress_pairs(voice: npt.NDArray[np.float64], voice_y: npt.NDArray[np.int64],
                          windows: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64],
                                         npt.NDArray[np.int64]],
                          settings: FusionSettings, seeds: int = 5) -> dict[str, Any]:
    """`voice`/`voice_y`: the test speakers' speech-model outputs and acted labels;
    `windows`: `physio_windows(...)`, of which the test (odd) participants are used."""
    phys, phys_y, who = windows
    test = np.array([not calibration_subject(int(p)) for p in who])
    rows = []
    n = 0
    for seed in range(seeds):
        pairs, y = stress_pairs(voice, voice_y, phys[test], phys_y[test], seed)
        n = int(y.size)
        row = {}
        for key, mods in (("fused", ("voice", "physio")), ("voice", ("voice",)),
                          ("physio", ("physio",))):
            s = [fused_stress(p, settings, mods) for p in pairs]
            row[key] = balanced_accuracy(
                np.array([int(v is not None and v >= 0.5) for v in s]), y)
        rows.append(row)
    avg = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}
    return {"fused_balanced_accuracy": avg["fused"],
            "single": {"voice": avg["voice"], "physio": avg["physio"]},
            "without": {"voice": avg["physio"], "physio": avg["voice"]},
            "n": n, "physio_windows": int(test.sum()),
            "physio_stress_windows": int(phys_y[test].sum()), "seeds": seeds,
            "pairs": "held-out speech clips (angry/fear = stress; neutral/happy/sad = none) "
                     "x 60-s E4 windows of the odd-numbered Stress-Predict participants"}
