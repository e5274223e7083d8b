"""The speech recipe's protocol and training parts: leave-speakers-out folds that never
share a test speaker, and the speaker/corpus adversary's gradient reversal."""

from __future__ import annotations

import numpy as np
import pytest

from models.training.speech_emotion import TEST_SPEAKERS, VAL_SPEAKERS
from models.training.speech_voices import FOLDS, fold_speakers

MEN = {"ravdess-07", "ravdess-11", "ravdess-15", "ravdess-19",
       "emodb-03", "emodb-10", "emodb-11", "emodb-12"}


def test_speaker_folds_rotate_disjoint_test_speakers() -> None:
    assert fold_speakers(0) == (TEST_SPEAKERS, VAL_SPEAKERS)  # fold 0 is the default split
    tests = [fold_speakers(k)[0] for k in range(FOLDS)]
    for k, (test, val) in enumerate(fold_speakers(k) for k in range(FOLDS)):
        assert not test & val
        for corpus in ("ravdess", "emodb"):
            ours = {s for s in test if s.startswith(corpus)}
            assert len(ours) == 2 and len(ours & MEN) == 1  # one man and one woman each
        assert all(not test & other for j, other in enumerate(tests) if j != k)
    emodb = set().union(*tests) & {f"emodb-{s}" for s in
                                   ("03", "08", "09", "10", "11", "12", "13", "14")}
    assert len(emodb) == 8  # every EmoDB speaker in ../shared is tested once
    with pytest.raises(ValueError, match="fold"):
        fold_speakers(FOLDS)


def test_adversary_reverses_its_gradient_into_the_features() -> None:
    """The adversary's loss pulls its own weights towards naming the group and pushes the
    shared features the other way, scaled by the ramped strength; the emotion network
    stays the model that is saved."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow import keras

    from models.training.speech_adversary import ramp, with_adversary

    inp = keras.Input((4,))
    feat = keras.layers.Dense(3, name="features")(inp)
    pooled = keras.layers.Dropout(0.0, name="pooled_dropout")(feat)
    model = keras.Model(inp, keras.layers.Dense(2, name="logits")(pooled))
    trained, reversal = with_adversary(model, groups=3)
    assert trained.inputs == model.inputs and len(trained.outputs) == 2
    ramp(reversal, 0.5, epochs=5).on_epoch_begin(0)
    assert float(reversal.strength.numpy()) == 0.0  # the features learn the task first
    ramp(reversal, 0.5, epochs=5).on_epoch_begin(4)
    assert float(reversal.strength.numpy()) == pytest.approx(0.5, abs=1e-3)

    x = tf.constant(np.random.default_rng(0).normal(size=(8, 4)), tf.float32)
    g = tf.constant([0, 1, 2, 0, 1, 2, 0, 1])
    w_feat = model.get_layer("features").kernel
    head = trained.get_layer("adversary_logits")
    sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def grads(strength: float) -> tuple[np.ndarray, np.ndarray]:
        reversal.strength.assign(strength)
        with tf.GradientTape() as tape:
            loss = sce(g, trained(x, training=True)[1])
        gf, gh = tape.gradient(loss, [w_feat, head.kernel])
        return gf.numpy(), gh.numpy()

    plain_f, plain_h = grads(-1.0)  # strength -1: an ordinary (unreversed) gradient
    rev_f, rev_h = grads(0.5)
    assert np.abs(plain_f).sum() > 0
    np.testing.assert_allclose(rev_f, -0.5 * plain_f, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rev_h, plain_h, rtol=1e-6)  # the head itself learns to name


def test_vocal_tract_warp_moves_energy_along_the_frequency_axis() -> None:
    """`warp_mel` scales frequencies in Hz on the Slaney mel bands: a band's energy moves
    by at most what a factor of 1 +- warp allows, order is kept, and no warp is no change."""
    tf = pytest.importorskip("tensorflow")
    from edge.voice.features import N_MELS, SR, hz_to_mel
    from models.training.speech_emotion import warp_mel

    ramp = np.tile(np.arange(N_MELS, dtype=np.float32), (4, 1))  # each band holds its index
    np.testing.assert_allclose(warp_mel(tf.constant(ramp), 1e-7).numpy(), ramp, atol=1e-3)
    tf.random.set_seed(3)
    step = float(hz_to_mel(np.array(SR / 2.0))) / (N_MELS + 1)
    top_shift = np.log(1.25) / (np.log(6.4) / 27.0) / step  # bands per 25 % above 1 kHz
    moved = False
    for _ in range(10):
        y = warp_mel(tf.constant(ramp), 0.2).numpy()[0]  # where each band's energy came from
        assert np.all(np.diff(y) >= 0) and y.min() >= 0 and y.max() <= N_MELS - 1
        assert np.abs(y - np.arange(N_MELS)).max() <= top_shift + 1e-3
        moved |= bool(np.abs(y[40] - 40) > 0.5)
    assert moved
