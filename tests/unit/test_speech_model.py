"""The shipped speech-emotion model on real held-out speakers, clean and in simulated
rooms and babble; the online speaker normalisation a model may declare (past utterances
only, in the daemon as in eval)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from edge.voice.adapt import SpeakerAdaptation, training_offsets, with_offset

if TYPE_CHECKING:
    from edge.voice.analyzer import VoiceAnalyzer

ROOT = Path(__file__).resolve().parents[2]


def test_speaker_adaptation_uses_past_utterances_only() -> None:
    rng = np.random.default_rng(0)
    means = rng.normal(0, 1, (40, 64))
    ad = SpeakerAdaptation(window=32)
    first = ad.offset(means[0])
    assert np.allclose(first, 0.0)  # one utterance: exactly the per-utterance features
    offs = [first] + [ad.offset(m) for m in means[1:]]
    for t in (1, 10, 39):  # the offset at t depends on utterances <= t and nothing later
        lo = max(0, t - 31)
        assert np.allclose(offs[t], means[t] - means[lo:t + 1].mean(0), atol=1e-5)
    assert ad.utterances == 32
    x = rng.normal(0, 1, (300, 64)).astype(np.float32)
    assert np.allclose(with_offset(x, offs[5]) - x, offs[5][None, :], atol=1e-6)
    ad.reset()
    assert ad.utterances == 0


def test_training_offsets_stay_within_the_speaker() -> None:
    rng = np.random.default_rng(1)
    means = np.concatenate([rng.normal(5, 0.1, (20, 64)), rng.normal(-5, 0.1, (20, 64))])
    speakers = np.array(["a"] * 20 + ["b"] * 20)
    off = training_offsets(means.astype(np.float32), speakers, np.arange(40), rng)
    # a speaker's mean voice cancels: offsets are small although the voices are 10 apart
    assert np.abs(off).max() < 1.0


def _eval(folder: Path, files: list[Path], seed: int = 0) -> dict:
    from edge.lab.evaluate.speech import evaluate_speech

    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(f)
    return evaluate_speech(folder, 1, seed)


def test_shipped_model_on_held_out_emodb_speakers(shared_data: Path, tmp_path: Path) -> None:
    emodb = shared_data / "speech" / "emodb"
    r = _eval(tmp_path / "emodb", sorted(p for p in emodb.iterdir() if p.name[:2] in ("03", "08")))
    assert r["speaker_normalisation"] is True and r["channels"] == ["utterance", "speaker"]
    assert r["n"] == 92 and r["skipped"] == 15  # boredom files counted, not scored
    assert r["accuracy"] >= 0.66, r["accuracy"]  # measured 0.707 (1.x: 0.761)
    assert set(r["per_gender"]) == {"male", "female"}
    assert set(r["per_speaker"]) == {"emodb-03", "emodb-08"}
    assert sum(sum(row) for row in r["confusion"]) == 92
    c = r["confidence"]  # calibration error and the accuracy of the surer half
    assert 0.0 <= c["ece"] <= 0.2 and c["accuracy_at_half_coverage"] > r["accuracy"]


def test_shipped_model_on_held_out_ravdess_actors(shared_data: Path, tmp_path: Path) -> None:
    rav = shared_data / "speech" / "ravdess"
    files = sorted([*(rav / "Actor_19").iterdir(), *(rav / "Actor_20").iterdir()])
    r = _eval(tmp_path / "ravdess", files)
    # 2.0 trades clean studio accuracy (1.x: 0.683 here) for rooms, noise and other
    # corpora (test_shipped_model_holds_in_rooms_and_babble, the card): measured 0.642
    assert r["n"] == 120 and r["accuracy"] >= 0.60, r["accuracy"]
    gap = abs(r["per_gender"]["female"]["accuracy"] - r["per_gender"]["male"]["accuracy"])
    assert gap <= 0.05, r["per_gender"]  # measured: 0.650 vs 0.633 (order seed 0)


def test_eval_speech_on_label_folders_restricted_to_the_labels_present(
        shared_data: Path, tmp_path: Path) -> None:
    """`<label>/` folders of unnamed clips (as a natural-speech corpus is laid out), four
    of the labels: the restricted argmax can only gain on the 7-way one, per corpus too;
    `--labels` narrows what is scored; an unknown label is refused by name."""
    import json
    import subprocess
    import sys

    from edge.lab.evaluate.speech import evaluate_speech

    names = {"angry": "05", "happy": "03", "neutral": "01", "sad": "04"}
    for label, code in names.items():
        (tmp_path / label).mkdir()
        actor = shared_data / "speech" / "ravdess" / "Actor_19"
        for f in sorted(actor.glob(f"03-01-{code}-*"))[:4]:
            (tmp_path / label / f"clip_{f.stem[-8:]}.flac").symlink_to(f)
    r = evaluate_speech(tmp_path, 1, 0)
    assert r["n"] == 16 and r["labels_present"] == sorted(names)
    assert r["restricted"]["accuracy"] >= r["accuracy"]
    assert r["restricted"]["uar"] >= r["uar"]
    folder = r["per_corpus"]["folder"]
    assert folder["n"] == 16 and folder["restricted"]["accuracy"] == r["restricted"]["accuracy"]
    two = evaluate_speech(tmp_path, 1, 0, ["angry", "sad"])
    assert two["n"] == 8 and two["skipped"] == 8 and two["labels_present"] == ["angry", "sad"]
    bad = subprocess.run([sys.executable, "-m", "edge", "eval", "speech", "--audio",
                          str(tmp_path), "--labels", "angry,bored", "--json"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 78 and "--labels" in bad.stderr and "bored" in bad.stderr
    assert not bad.stdout.strip() or "accuracy" not in json.loads(bad.stdout)


def test_voice_analyzer_follows_the_manifest_preprocessing(shared_data: Path) -> None:
    """The shipped model reads two channels, the utterance alone and relative to the
    room's recent voices: the analyzer keeps the online normaliser, which holds the
    utterances it heard; a preprocessing that does not fit the model is refused by
    name."""
    from edge.lab.evaluate.speech import load_clip
    from edge.messages import AudioChunk
    from edge.registry import Registry
    from edge.voice.analyzer import SpeechEmotionModel, VoiceAnalyzer

    assert Registry().get("speech_emotion").preprocessing == {
        "speaker_normalisation": True, "channels": ["utterance", "speaker"],
        "channel_weights": [0.7, 0.3]}
    an = VoiceAnalyzer(threads=1)
    assert an.model.adaptation is not None and an.model.channels == ("utterance", "speaker")
    assert an.model.weights.tolist() == [0.7, 0.3]
    clip = next(iter(sorted((shared_data / "speech" / "ravdess" / "Actor_19").iterdir())))
    x = load_clip(clip)
    silence = np.zeros(16000, np.float32)
    audio = np.concatenate([silence, x, silence, x, silence])
    est = []
    for k in range(0, audio.size, 1600):
        est += an.process(AudioChunk(k / 16000, audio[k:k + 1600], 16000))
    assert len(est) == 2 and all(abs(sum(e.probs) - 1) < 1e-3 for e in est)
    assert an.model.adaptation.utterances == 2
    fresh = SpeechEmotionModel(an.model.model, channels=("utterance", "speaker"))
    first, second = fresh.predict(x), fresh.predict(x)
    assert fresh.adaptation is not None and fresh.adaptation.utterances == 2
    assert np.allclose(second, first, atol=1e-6)  # the same spectrum again: offset zero
    with pytest.raises(ValueError, match=r"preprocessing\.channels "):
        SpeechEmotionModel(an.model.model)  # one channel declared, the model reads two
    with pytest.raises(ValueError, match=r"preprocessing\.channel_weights"):
        SpeechEmotionModel(an.model.model, channels=("utterance", "speaker"),
                           channel_weights=(1.0,))


@pytest.mark.parametrize("name", ["03-01-05-01-01-01-15.wav", "15a01Wa.wav", "16b02Lb.wav"])
def test_parsing_knows_the_speakers_we_do_not_have(name: str) -> None:
    from edge.lab.corpora import parse_clip

    c = parse_clip(Path(name))
    assert c is not None
    assert c.gender == ("female" if name.startswith("16") else "male")


def estimates_from(an: VoiceAnalyzer, x: np.ndarray) -> int:
    """How many emotion estimates the analyzer gives for x, fed in 100-ms chunks as the
    daemon's microphone does, then half a second of quiet that closes the segment."""
    from edge.messages import AudioChunk

    x = np.concatenate([x, np.zeros(8000, np.float32)])
    return sum(len(an.process(AudioChunk(k / 16000, x[k:k + 1600], 16000)))
               for k in range(0, x.size, 1600))


def test_voice_analyzer_scores_speech_and_rejects_music(shared_data: Path) -> None:
    """The shipped speech gate through the daemon's voice analyzer: held-out actors'
    speech gives estimates; instrumental music gives none and is counted as rejected
    (music is in the gate's training data: this checks the path, the card has the
    held-out figures)."""
    from edge.lab.bench.vad import files_under, read_16k
    from edge.voice.analyzer import VoiceAnalyzer

    speech_an = VoiceAnalyzer(threads=1)
    clips = sorted((shared_data / "speech" / "ravdess" / "Actor_20").iterdir())[::6]
    scored = sum(estimates_from(speech_an, read_16k(p)) for p in clips)
    assert scored >= 0.9 * len(clips), (scored, len(clips), speech_an.rejected)
    music_an = VoiceAnalyzer(threads=1)
    music = files_under(shared_data / "nonspeech" / "music")
    assert sum(estimates_from(music_an, read_16k(p)) for p in music) == 0
    assert music_an.rejected >= 10


def test_shipped_model_holds_in_rooms_and_babble(shared_data: Path) -> None:
    """The held-out test speakers' clips through rooms simulated afresh (talker 1-2 m
    from the microphone) and under four other people talking at 10 dB SNR, scored by
    the daemon's int8 model, each speaker's clips as one session (the normaliser's
    room). The 1.x model, trained on clean studio speech, fell to 0.29 and 0.43 there
    (clean 0.72), calling neutral speech disgust, sad or surprise. The daemon's default
    output (network, prosody head, everyday prior), mean of three session orders:
    0.629 and 0.607 (clean 0.657); the network alone 0.605 and 0.566 (clean 0.662)."""
    pytest.importorskip("pyroomacoustics")
    from edge.messages import EMOTIONS
    from edge.registry import Registry
    from edge.settings import VoiceSettings
    from edge.voice.adapt import session_order
    from edge.voice.analyzer import SpeechEmotionModel
    from models.training.speech_conditions import condition_sets

    sets, labels, speakers = condition_sets()
    y = np.array([EMOTIONS.index(str(v)) for v in labels])
    reg = Registry()
    net = reg.load("speech_emotion", 1)
    acc = {}
    for cond in ("clean", "room_1-2m", "babble_10dB"):
        pred = np.zeros(y.size, int)
        for session in session_order(speakers, 0):
            model = SpeechEmotionModel.from_registry(reg, VoiceSettings(), model=net)
            for i in session:
                pred[i] = int(np.argmax(model.predict(sets[cond][i])))
        acc[cond] = float(np.mean(pred == y))
    assert acc["room_1-2m"] >= 0.54 and acc["babble_10dB"] >= 0.50, acc
    assert acc["clean"] >= 0.62, acc


def test_voice_analyzer_keeps_speech_over_music(shared_data: Path) -> None:
    """Speech with music behind it (10 dB below) is still speech: the shipped gate
    learnt it (over the even-numbered music pieces; these use the odd ones) and gives an
    estimate for most of two actors' clips (the gate before it: 26 of 40)."""
    from edge.lab.bench.vad import files_under, read_16k
    from edge.voice.analyzer import VoiceAnalyzer

    music = [read_16k(p) for p in files_under(shared_data / "nonspeech" / "music")][1::2]
    an = VoiceAnalyzer(threads=1)
    with_estimate, clips = 0, 0
    for actor in ("Actor_19", "Actor_20"):
        for p in sorted((shared_data / "speech" / "ravdess" / actor).iterdir())[1::3]:
            x = read_16k(p)
            m = np.resize(music[clips % len(music)], x.size)
            gain = np.sqrt(np.mean(x ** 2) / np.mean(m ** 2) / 10.0)
            with_estimate += estimates_from(an, (x + gain * m).astype(np.float32)) > 0
            clips += 1
    assert clips == 40
    assert with_estimate >= 30, (with_estimate, an.rejected)
