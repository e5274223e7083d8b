"""Synthetic ECG and EDA with a known stress schedule, for the demo and tests.

Not a dataset: a small physiological model the project owns, so the demo runs
without wearables and without `../shared`. ECG: each beat is a sum of Gaussian
P, Q, R, S and T waves (as in McSharry et al., IEEE TBME 2003, ECGSYN), placed
at beat times whose rate follows the stress schedule plus respiratory sinus
arrhythmia; microvolts. EDA: a tonic level that rises under stress plus skin
conductance responses (Bateman functions) arriving as a Poisson process whose
rate grows with stress; microsiemens. Skin temperature (wrist): a level that warms
slowly under the sensor and dips under stress (peripheral vasoconstriction), through
a first-order lag of a minute; °C.

Schedule: rest for `rest_s`, then alternating stress and rest blocks of
`block_s`, with 8-second transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# (offset from R in s, amplitude in mV, width in s) for P, Q, R, S; T is placed by RR.
_WAVES = ((-0.20, 0.12, 0.025), (-0.035, -0.12, 0.010), (0.0, 1.30, 0.011), (0.035, -0.28, 0.012))
_T_WAVE = (0.30, 0.012)  # fraction of sqrt(RR), amplitude mV scaled below, width s


@dataclass
class StressSchedule:
    """Stress level in [0, 1] over time."""

    rest_s: float = 60.0
    block_s: float = 45.0

    def level(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        u = (t - self.rest_s) / self.block_s
        phase = np.where(t < self.rest_s, -1.0, np.floor(u) % 2)
        frac = np.clip((u - np.floor(u)) * self.block_s / 8.0, 0.0, 1.0)
        rising = phase == 0
        falling = (phase == 1) & (t >= self.rest_s + self.block_s)
        out = np.zeros_like(t)
        out[rising] = frac[rising]
        out[falling] = 1.0 - frac[falling]
        return out


@dataclass
class SyntheticPhysio:
    """Stateful generator of consecutive ECG (µV) and EDA (µS) chunks and skin
    temperature (°C) readings."""

    ecg_fs: float = 130.0
    eda_fs: float = 4.0
    seed: int = 0
    schedule: StressSchedule = field(default_factory=StressSchedule)
    rest_hr: float = 66.0
    stress_hr: float = 92.0
    rest_temp_c: float = 31.5

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._beats: list[float] = [0.4]
        self._scr_times: list[tuple[float, float]] = []
        self._next_scr = 0.0
        self._wander_phase = float(self._rng.uniform(0, 2 * np.pi))
        # its own generator: adding a thermometer leaves the ECG and EDA draws unchanged
        self._temp_rng = np.random.default_rng(self.seed + 1000)
        self._skin: tuple[float, float] | None = None  # (time, lagged level)

    def stress_at(self, t: float) -> float:
        return float(self.schedule.level(np.array([t]))[0])

    def _extend_beats(self, until: float) -> None:
        while self._beats[-1] < until + 1.5:
            t = self._beats[-1]
            s = self.stress_at(t)
            hr = self.rest_hr + (self.stress_hr - self.rest_hr) * s
            rsa = (0.06 * (1.0 - 0.7 * s)) * np.sin(2 * np.pi * 0.25 * t)
            rr = 60.0 / hr * (1.0 + rsa) + self._rng.normal(0.0, 0.012 * (1.0 - 0.6 * s))
            self._beats.append(t + max(0.3, rr))
        while len(self._beats) > 4 and self._beats[1] < until - 60.0:
            self._beats.pop(0)

    def beat_times(self) -> npt.NDArray[np.float64]:
        """Times (s) of the beats generated so far (what a strap's RR intervals report)."""
        return np.asarray(self._beats)

    def ecg(self, t0: float, n: int) -> npt.NDArray[np.float64]:
        """`n` ECG samples starting at time `t0` (seconds since start), in µV."""
        t = t0 + np.arange(n) / self.ecg_fs
        self._extend_beats(float(t[-1]))
        mv = np.zeros(n)
        beats = np.asarray(self._beats)
        near = beats[(beats > t[0] - 1.0) & (beats < t[-1] + 1.0)]
        for i, rb in enumerate(near):
            rr = float(near[i + 1] - rb) if i + 1 < len(near) else 60.0 / self.rest_hr
            for off, amp, width in _WAVES:
                mv += amp * np.exp(-0.5 * ((t - rb - off) / width) ** 2)
            toff = _T_WAVE[0] * np.sqrt(max(rr, 0.3))
            mv += 0.28 * np.exp(-0.5 * ((t - rb - toff) / (0.045 * np.sqrt(rr))) ** 2)
        mv += 0.08 * np.sin(2 * np.pi * 0.2 * t + self._wander_phase)
        mv += self._rng.normal(0.0, 0.015, n)
        return mv * 1000.0

    def eda(self, t0: float, n: int) -> npt.NDArray[np.float64]:
        """`n` EDA samples at `eda_fs` starting at `t0`, in µS."""
        t = t0 + np.arange(n) / self.eda_fs
        s = self.schedule.level(t)
        end = float(t[-1])
        while self._next_scr < end:
            rate = (2.0 + 8.0 * self.stress_at(self._next_scr)) / 60.0
            self._next_scr += float(self._rng.exponential(1.0 / rate))
            amp = float(self._rng.uniform(0.1, 0.5)) * (1.0 + self.stress_at(self._next_scr))
            self._scr_times.append((self._next_scr, amp))
        self._scr_times = [(ts, a) for ts, a in self._scr_times if ts > t0 - 40.0]
        tonic = 2.0 + 1.6 * s + 0.05 * np.sin(2 * np.pi * t / 300.0)
        phasic = np.zeros(n)
        for ts, amp in self._scr_times:
            dt = t - ts
            m = dt > 0
            phasic[m] += amp * 1.9 * (np.exp(-dt[m] / 4.0) - np.exp(-dt[m] / 0.75))
        return tonic + phasic + self._rng.normal(0.0, 0.004, n)

    def skin_temp(self, t: float) -> float:
        """The wrist's skin temperature (°C) at time `t` (seconds since start; calls
        move forward in time)."""
        target = (self.rest_temp_c + 0.8 * (1.0 - np.exp(-t / 900.0))
                  - 0.4 * self.stress_at(t))
        t0, level = self._skin if self._skin is not None else (t, target)
        level += (1.0 - float(np.exp(-max(0.0, t - t0) / 60.0))) * (target - level)
        self._skin = (t, level)
        return level + float(self._temp_rng.normal(0.0, 0.01))
