"""Late fusion: combine the fresh per-modality estimates into one smoothed state.

Every estimate younger than `max_age_s` (the modality's own when set: the voice's is
3 s — an utterance's estimate says little once it is over, and a sound the speech
gate mistook for speech should not show a voice for long) gets the weight
    w = prior(modality) * quality * exp(-age / age_decay_s).
Valence, arousal and stress are each the weighted mean over the modalities that
provide them (any subset works; a quantity nobody provides is None); stress comes
from physiology and from the voice's arousal and valence (`voice_stress`, weighted
by the fitted `stress_voice`). Emotion
distributions are combined by the fitted rule (`combine = "fitted"`): each
modality's distribution is calibrated by its temperature, and several are pooled
as a product of experts, log p = sum_m pool_m * (w_m / max w) * log p_m / T_m, the
temperatures and exponents fitted on held-out pairs (models/training/fusion.py,
report in models/reports/fusion_fit.json); `combine = "mean"` keeps the weighted
mean of the raw distributions as the documented fallback. Confidence is the
noisy-or of the weights clipped to [0, 1], times the top probability when
probabilities exist. Values are smoothed with an exponential moving average of
time constant `time_constant_s`. The emitted
emotion follows the argmax of the smoothed probabilities with hysteresis (the
new label must lead by `hysteresis`) and a minimum dwell time (`dwell_s`), so a
lamp driven by it does not flicker.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from edge.messages import EMOTIONS, MODALITIES, FusedState, ModalityEstimate, ModalityStatus
from edge.settings import FusionSettings


def voice_stress(arousal: float, valence: float | None) -> float:
    """Stress read from the voice's circumplex position: high arousal with unpleasant
    valence (the circumplex's "tense" quadrant) -> 1, calm or pleasant -> 0:
    ((1 + arousal)(1 - valence) / 2)^2 clipped to [0, 1] (neutral 0.25, sad 0.35,
    angry and fear 1, happy 0.03)."""
    v = 0.0 if valence is None else valence
    return max(0.0, min(1.0, ((1.0 + arousal) * (1.0 - v) / 2.0) ** 2))


class LateFusion:
    """Thread-safe: analyzers call `update`, the publisher calls `fuse`."""

    def __init__(self, settings: FusionSettings, enabled: tuple[str, ...] = MODALITIES) -> None:
        self.settings = settings
        self.enabled = enabled
        self._lock = threading.Lock()
        self._latest: dict[str, ModalityEstimate] = {}
        self._smooth: dict[str, float] = {}
        self._smooth_probs: list[float] | None = None
        self._last_fuse: float | None = None
        self._emotion: str | None = None
        self._emotion_since = 0.0
        self._listeners: list[Callable[[ModalityEstimate], None]] = []

    def _prior(self, modality: str) -> float:
        return self.settings.modality(modality).weight

    def add_listener(self, listener: Callable[[ModalityEstimate], None]) -> None:
        """Also hand every estimate to `listener` (kiosk aggregation, biofeedback wake-up);
        called from the analyzer threads."""
        self._listeners.append(listener)

    def update(self, estimate: ModalityEstimate) -> None:
        with self._lock:
            self._latest[estimate.modality] = estimate
        for listener in self._listeners:
            listener(estimate)

    def latest(self, modality: str) -> ModalityEstimate | None:
        """The newest estimate of a modality (None after a reset or before the first)."""
        with self._lock:
            return self._latest.get(modality)

    def reset(self) -> None:
        with self._lock:
            self._latest.clear()
            self._smooth.clear()
            self._smooth_probs = None
            self._last_fuse = None
            self._emotion = None

    def _dwell(self, probs: dict[str, float], now: float) -> str:
        """The label to publish: the leader, once it beats the current label by the
        hysteresis margin and the current one has been shown for the dwell time."""
        leader = max(probs, key=lambda k: probs[k])
        cur = self._emotion
        if cur is None or (leader != cur and probs[leader] - probs[cur] >= self.settings.hysteresis
                           and now - self._emotion_since >= self.settings.dwell_s):
            if leader != cur:
                self._emotion, self._emotion_since = leader, now
            return leader
        return cur

    def _combine(self, parts: list[tuple[str, float, tuple[float, ...]]]) -> list[float]:
        """One distribution from (modality, weight, probs) of every modality that has one."""
        cfg = self.settings
        if cfg.combine == "mean":
            total = sum(w for _, w, _ in parts)
            return [sum(w * p[i] for _, w, p in parts) / total for i in range(len(EMOTIONS))]
        # fitted: temperature-calibrated log-probabilities; with several modalities, each
        # scaled by its fitted pooling exponent and its weight relative to the strongest
        top = max(w for _, w, _ in parts)
        logit = [0.0] * len(EMOTIONS)
        for m, w, p in parts:
            own = cfg.modality(m)
            scale = 1.0 if len(parts) == 1 else own.pool * w / top
            temp = own.temperature
            for i, v in enumerate(p):
                logit[i] += scale * math.log(max(v, 1e-6)) / temp
        hi = max(logit)
        ex = [math.exp(v - hi) for v in logit]
        total = sum(ex)
        return [v / total for v in ex]

    def _ema(self, key: str, value: float | None, alpha: float) -> float | None:
        if value is None:
            self._smooth.pop(key, None)
            return None
        prev = self._smooth.get(key)
        new = value if prev is None else prev + alpha * (value - prev)
        self._smooth[key] = new
        return new

    def fuse(self, now: float | None = None, wall: float | None = None,
             paused: bool = False) -> FusedState:
        """The fused state at monotonic time `now` (wall-clock `wall` goes in `ts`)."""
        now = time.monotonic() if now is None else now
        wall = time.time() if wall is None else wall
        with self._lock:
            status: dict[str, ModalityStatus] = {}
            weights: dict[str, float] = {}
            for m in self.enabled:
                est = self._latest.get(m)
                if est is None or paused:
                    status[m] = ModalityStatus(False, 0.0, None)
                    continue
                age = max(0.0, now - est.ts)
                fresh = age <= (self.settings.modality(m).max_age_s
                                or self.settings.max_age_s)
                status[m] = ModalityStatus(fresh, round(est.quality, 3), round(age, 2),
                                           est.count if m == "face" else None)
                if fresh:
                    w = self._prior(m) * est.quality * math.exp(-age / self.settings.age_decay_s)
                    if w > 0:
                        weights[m] = w
            if paused:
                self._smooth.clear()
                self._smooth_probs = None
                self._last_fuse = now
                return FusedState(wall, True, None, None, None, None, None, 0.0, status)
            dt = 0.0 if self._last_fuse is None else max(0.0, now - self._last_fuse)
            self._last_fuse = now
            tau = self.settings.time_constant_s
            alpha = 1.0 if tau <= 0 or dt == 0 else 1.0 - math.exp(-dt / tau)
            if not self._smooth and self._smooth_probs is None:
                alpha = 1.0
            ests = {m: self._latest[m] for m in weights}
            values: dict[str, float | None] = {}
            for key in ("valence", "arousal", "stress"):
                pairs = [(weights[m], getattr(e, key)) for m, e in ests.items()
                         if getattr(e, key) is not None]
                voice = ests.get("voice")
                if key == "stress" and voice is not None and voice.arousal is not None:
                    pairs.append((self.settings.stress_voice * weights["voice"],
                                  voice_stress(voice.arousal, voice.valence)))
                total = sum(w for w, _ in pairs)
                values[key] = self._ema(key, sum(w * v for w, v in pairs) / total
                                        if total > 0 else None, alpha)
            prob_pairs = [(weights[m], e.probs) for m, e in ests.items() if e.probs is not None]
            probs: dict[str, float] | None = None
            emotion: str | None = None
            top = 1.0
            if prob_pairs:
                mixed = self._combine([(m, weights[m], e.probs) for m, e in ests.items()
                                       if e.probs is not None])
                if self._smooth_probs is None:
                    self._smooth_probs = mixed
                else:
                    self._smooth_probs = [a + alpha * (b - a)
                                          for a, b in zip(self._smooth_probs, mixed, strict=True)]
                s = sum(self._smooth_probs) or 1.0
                probs = {k: round(v / s, 4) for k, v in zip(EMOTIONS, self._smooth_probs,
                                                            strict=True)}
                emotion = self._dwell(probs, now)
                top = probs[emotion]
            else:
                self._smooth_probs = None
            reliability = 1.0 - math.prod(1.0 - min(1.0, w) for w in weights.values())
            metrics: dict[str, float] = {}
            for e in ests.values():
                metrics.update(e.metrics)
            return FusedState(
                ts=wall, paused=False,
                valence=_round(values["valence"]), arousal=_round(values["arousal"]),
                stress=_round(values["stress"]), emotion=emotion, probs=probs,
                confidence=round(reliability * top, 4), modalities=status, metrics=metrics,
            )


def _round(x: float | None) -> float | None:
    return None if x is None else round(max(-1.0, min(1.0, x)), 4)
