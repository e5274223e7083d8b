"""The voice analyzer: microphone chunks -> speech segments -> emotion estimates.

Runs the int8 `speech_emotion` model (from the registry) only on segments the
VAD found and the speech gate (`edge.voice.speechness`) takes for speech — music,
noise, appliances and singing are counted as `rejected` and give no estimate; a
segment longer than the model's 3 s window is scored on half-overlapping windows and
averaged. No audio is kept beyond the open
segment (at most `max_s` seconds) and nothing is stored or sent; the speaker
normalisation keeps the mean spectrum (64 numbers) of the last 32 utterances in
memory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.analyzer import Analyzer
from edge.circumplex import valence_arousal
from edge.inference import TFLiteModel
from edge.messages import AudioChunk, ModalityEstimate, SourceItem
from edge.registry import Registry
from edge.voice.adapt import SpeakerAdaptation, with_offset
from edge.voice.features import fit_frames, log_mel, log_mel_of_power, normalise, power_spectrogram
from edge.voice.speechness import MODEL_ID as GATE_ID
from edge.voice.speechness import SpeechGate
from edge.voice.vad import Segmenter

MODEL_ID = "speech_emotion"
CHANNELS = ("utterance", "speaker")
"""What an input channel of the speech-emotion model can hold (`SpeechEmotionModel`)."""


class SpeechEmotionModel:
    """The network plus its input preparation. Its input channels say what it reads:
    `utterance`, the utterance's own normalised log-mel; `speaker`, the same relative
    to the room's recent voices (`edge.voice.adapt`, learnt online from past
    utterances). A model declares them in the manifest (`preprocessing.channels`;
    older manifests: `speaker_normalisation` true means one `speaker` channel). With
    several channels the model outputs one block of logits per channel's network and
    `preprocessing.channel_weights` weighs them (equal by default)."""

    def __init__(self, model: TFLiteModel, speaker_normalisation: bool = False,
                 channels: tuple[str, ...] | None = None,
                 channel_weights: tuple[float, ...] | None = None) -> None:
        self.model = model
        self.frames = model.inputs[0].shape[1]
        self.channels = channels or (("speaker",) if speaker_normalisation else ("utterance",))
        if set(self.channels) - set(CHANNELS) or len(self.channels) != model.inputs[0].shape[-1]:
            raise ValueError(f"preprocessing.channels {list(self.channels)} does not fit the "
                             f"model's input {list(model.inputs[0].shape)} (known: {CHANNELS})")
        n = len(self.channels)
        self.weights = np.asarray(channel_weights or [1.0 / n] * n, np.float64)
        if self.weights.size != n or model.outputs[0].shape[-1] % n:
            raise ValueError(f"preprocessing.channel_weights {self.weights.tolist()} does not "
                             f"fit {n} channels and the output {list(model.outputs[0].shape)}")
        self.adaptation = SpeakerAdaptation() if "speaker" in self.channels else None

    @classmethod
    def from_entry(cls, model: TFLiteModel, preprocessing: dict[str, object]
                   ) -> SpeechEmotionModel:
        """As the manifest entry's `preprocessing` says."""
        channels, weights = preprocessing.get("channels"), preprocessing.get("channel_weights")
        return cls(model, bool(preprocessing.get("speaker_normalisation", False)),
                   tuple(str(c) for c in channels) if isinstance(channels, list) else None,
                   tuple(float(w) for w in weights) if isinstance(weights, list) else None)

    def predict(self, audio: npt.NDArray[np.float32],
                raw: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.float32]:
        """Emotion probabilities of one utterance; `raw`: its log-mel when already
        computed."""
        raw = log_mel(audio) if raw is None else raw
        lm = normalise(raw)
        views = {"utterance": lm}
        if self.adaptation is not None:
            views["speaker"] = with_offset(lm, self.adaptation.offset(raw.mean(axis=0)))
        n = lm.shape[0]
        starts = [0] if n <= self.frames else list(range(0, n - self.frames + 1,
                                                         self.frames // 2))
        logits = []
        for s in starts:
            x = np.stack([fit_frames(views[c][s:s + self.frames], self.frames)
                          for c in self.channels], axis=-1)[None]
            # one block of logits per channel's network, weighed (a single network: 1)
            per_channel = self.model.run(x)[0].reshape(len(self.channels), -1)
            logits.append(self.weights @ per_channel.astype(np.float64))
        z = np.mean(logits, axis=0)
        e = np.exp(z - z.max())
        return (e / e.sum()).astype(np.float32)


class VoiceAnalyzer(Analyzer):
    name = "voice"
    modality = "voice"

    def __init__(self, registry: Registry | None = None, threads: int = 1,
                 model: TFLiteModel | None = None) -> None:
        reg = registry or Registry()
        self.model = SpeechEmotionModel.from_entry(model or reg.load(MODEL_ID, threads),
                                                   reg.get(MODEL_ID).preprocessing)
        self.gate = SpeechGate.from_json(reg.verify(GATE_ID).read_text("utf-8"))
        self._ids = [reg.get(MODEL_ID).ref, reg.get(GATE_ID).ref]
        self.segmenter = Segmenter()
        self._rejected = 0

    @property
    def rejected(self) -> int:
        """Segments the speech gate took for something other than speech."""
        return self._rejected

    def model_ids(self) -> list[str]:
        return list(self._ids)

    def reset(self) -> None:
        self.segmenter.reset()

    def process(self, item: SourceItem) -> list[ModalityEstimate]:
        if not isinstance(item, AudioChunk):
            return []
        out = []
        for seg in self.segmenter.push(item.samples):
            power = power_spectrogram(seg)
            raw = log_mel_of_power(power)
            p_speech = self.gate.probability(raw, power)
            if p_speech < self.gate.threshold:
                self._rejected += 1
                continue
            probs = self.model.predict(seg, raw)
            v, a = valence_arousal(probs.tolist())
            duration = seg.size / 16000.0
            # short utterances say less; so does a segment the gate barely took for speech
            quality = float(min(1.0, duration / 2.0)) * self.gate.confidence(p_speech)
            out.append(ModalityEstimate("voice", item.ts, quality,
                                        probs=tuple(float(p) for p in probs), valence=v,
                                        arousal=a))
        return out
