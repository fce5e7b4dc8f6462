"""The learning-rate schedule of word2vec: a linear decay over the whole run."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="sg_keras")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate falling linearly from ``initial`` to ``initial * final_fraction``.

    Reaches the final rate at ``total_steps`` and stays there (word2vec.c's schedule).

    Example:

    >>> schedule = LinearDecay(0.025, total_steps=100)
    >>> [round(float(schedule(step)), 6) for step in (0, 50, 100, 200)]
    [0.025, 0.012501, 3e-06, 3e-06]
    """

    def __init__(self, initial, total_steps, final_fraction=1e-4):
        self.initial = initial
        self.total_steps = total_steps
        self.final_fraction = final_fraction

    def __call__(self, step):
        progress = tf.minimum(tf.cast(step, tf.float32) / float(max(self.total_steps, 1)), 1.0)
        return self.initial * (1.0 - (1.0 - self.final_fraction) * progress)

    def get_config(self):
        return {"initial": self.initial, "total_steps": self.total_steps,
                "final_fraction": self.final_fraction}
