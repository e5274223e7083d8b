"""The voice analyzer: microphone chunks -> speech segments -> emotion estimates.

Runs the int8 `speech_emotion` model (from the registry) only on segments the
VAD found and the speech gate (`edge.voice.speechness`) takes for speech — music,
noise, appliances and singing are counted as `rejected` and give no estimate; a
segment longer than the model's 3 s window is scored on half-overlapping windows and
averaged. No audio is kept beyond the open
segment (at most `max_s` seconds) and nothing is stored or sent; the speaker
normalisation keeps the mean spectrum (64 numbers) and the prosody (16 numbers,
`edge.voice.prosody`) of the last 32 utterances in memory. The network's output is
combined with the prosody head's and an everyday prior (`[voice]` settings).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.analyzer import Analyzer
from edge.circumplex import valence_arousal
from edge.inference import TFLiteModel
from edge.messages import EMOTIONS, AudioChunk, ModalityEstimate, SourceItem
from edge.registry import Registry
from edge.settings import VoiceSettings
from edge.voice.adapt import SpeakerAdaptation, with_offset
from edge.voice.features import fit_frames, log_mel_of_power, normalise, power_spectrogram
from edge.voice.pitch import PitchTrack, pitch_track
from edge.voice.prosody import MODEL_ID as PROSODY_ID
from edge.voice.prosody import ProsodyHead, RoomProsody, prosody_features
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
    `preprocessing.channel_weights` weighs them (equal by default). With a `prosody`
    head, its log probabilities and the `prior`'s are added to the network's
    (`edge.voice.prosody.ProsodyHead`)."""

    def __init__(self, model: TFLiteModel, speaker_normalisation: bool = False,
                 channels: tuple[str, ...] | None = None,
                 channel_weights: tuple[float, ...] | None = None,
                 prosody: ProsodyHead | None = None, prior: str = "uniform") -> None:
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
        self.prosody = prosody
        self.room = RoomProsody() if prosody is not None else None
        self.log_prior = prosody.log_prior(prior) if prosody is not None else None
        if prosody is not None and prosody.labels != EMOTIONS:
            raise ValueError(f"the prosody head's labels {list(prosody.labels)} are not "
                             f"{list(EMOTIONS)}")

    @classmethod
    def from_entry(cls, model: TFLiteModel, preprocessing: dict[str, object],
                   prosody: ProsodyHead | None = None, prior: str = "uniform"
                   ) -> SpeechEmotionModel:
        """As the manifest entry's `preprocessing` says."""
        channels, weights = preprocessing.get("channels"), preprocessing.get("channel_weights")
        return cls(model, bool(preprocessing.get("speaker_normalisation", False)),
                   tuple(str(c) for c in channels) if isinstance(channels, list) else None,
                   tuple(float(w) for w in weights) if isinstance(weights, list) else None,
                   prosody, prior)

    @classmethod
    def from_registry(cls, registry: Registry, settings: VoiceSettings, threads: int = 1,
                      model: TFLiteModel | None = None) -> SpeechEmotionModel:
        """The shipped network (and prosody head, unless `settings.prosody` is off)."""
        head = (ProsodyHead.from_json(registry.verify(PROSODY_ID).read_text("utf-8"))
                if settings.prosody else None)
        return cls.from_entry(model or registry.load(MODEL_ID, threads),
                              registry.get(MODEL_ID).preprocessing, head, settings.prior)

    def predict(self, audio: npt.NDArray[np.float32],
                raw: npt.NDArray[np.float32] | None = None,
                power: npt.NDArray[np.float32] | None = None,
                track: PitchTrack | None = None) -> npt.NDArray[np.float32]:
        """Emotion probabilities of one utterance; `raw`, `power` and `track`: its
        log-mel, power spectrogram and pitch track when already computed."""
        if raw is None or (power is None and self.prosody is not None):
            power = power_spectrogram(audio) if power is None else power
            raw = log_mel_of_power(power) if raw is None else raw
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
        if (self.prosody is not None and self.room is not None and self.log_prior is not None
                and power is not None):
            z = z - z.max()
            z = z - np.log(np.exp(z).sum())  # the network's log probabilities
            track = pitch_track(audio) if track is None else track
            head = self.prosody.log_probs(self.room.relative(prosody_features(track, raw,
                                                                              power)))
            w = self.prosody.network_weight
            z = w * z + (1.0 - w) * head + self.log_prior
        e = np.exp(z - z.max())
        return (e / e.sum()).astype(np.float32)


class VoiceAnalyzer(Analyzer):
    name = "voice"
    modality = "voice"

    def __init__(self, registry: Registry | None = None, threads: int = 1,
                 model: TFLiteModel | None = None, settings: VoiceSettings | None = None
                 ) -> None:
        reg = registry or Registry()
        settings = settings or VoiceSettings()
        self.model = SpeechEmotionModel.from_registry(reg, settings, threads, model)
        self.gate = SpeechGate.from_json(reg.verify(GATE_ID).read_text("utf-8"))
        self._ids = [reg.get(MODEL_ID).ref, reg.get(GATE_ID).ref]
        if settings.prosody:
            self._ids.append(reg.get(PROSODY_ID).ref)
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
            probs = self.model.predict(seg, raw, power)
            v, a = valence_arousal(probs.tolist())
            duration = seg.size / 16000.0
            # short utterances say less; so does a segment the gate barely took for speech
            quality = float(min(1.0, duration / 2.0)) * self.gate.confidence(p_speech)
            out.append(ModalityEstimate("voice", item.ts, quality,
                                        probs=tuple(float(p) for p in probs), valence=v,
                                        arousal=a))
        return out
