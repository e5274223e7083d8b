"""An adversary against speaker or corpus identity for the speech network (DANN).

    python -m models.training.speech_voices --train-on ravdess --adversary speaker

Ganin et al. (2016), domain-adversarial training: a small head reads the pooled
utterance features (the input of the emotion network's last dropout) and learns
to name the speaker (or the corpus) of each training row, through a gradient
reversal layer — the head gets better at naming, the features below it are pushed
to make naming impossible, so what the emotion head can use carries less of who
speaks and where it was recorded. The reversal's strength follows the paper's
schedule, 0 at the start rising to `strength` (2 / (1 + exp(-10 p)) - 1, p the
share of training done), so the features first learn the task. Only the emotion
network (weights shared) is saved and exported: the head exists in training only.
"""

from __future__ import annotations

import math
from typing import Any

POOLED = "pooled_dropout"
"""The emotion network's layer whose input the adversary reads (`build_model`)."""


def with_adversary(model: Any, groups: int) -> tuple[Any, Any]:
    """A two-output training model around `model` (emotion logits, group logits) and
    the reversal layer, whose `strength` variable the schedule sets."""
    import tensorflow as tf
    from tensorflow import keras

    class GradientReversal(keras.layers.Layer):
        """Identity forwards; the gradient times -strength backwards."""

        def build(self, input_shape: Any) -> None:
            self.strength = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                            name="strength")

        def call(self, x: Any) -> Any:
            s = tf.convert_to_tensor(self.strength)

            @tf.custom_gradient
            def reverse(y: Any) -> Any:
                return tf.identity(y), lambda dy: -s * dy

            return reverse(x)

    L = keras.layers
    reversal = GradientReversal(name="gradient_reversal")
    h = reversal(model.get_layer(POOLED).input)
    h = L.Dense(64, activation="relu", name="adversary_hidden")(h)
    adv = L.Dense(groups, name="adversary_logits")(h)
    return keras.Model(model.input, [model.output, adv]), reversal


def ramp(reversal: Any, strength: float, epochs: int) -> Any:
    """A callback setting `reversal`'s strength before each epoch (DANN's schedule)."""
    from tensorflow import keras

    class Ramp(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            p = epoch / max(1, epochs - 1)
            reversal.strength.assign(strength * (2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0))

    return Ramp()
