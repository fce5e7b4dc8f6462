"""The skip-gram model's Keras layers: the hidden Embedding, the output layer, its initializer.

Each is a registered Keras class (package ``sg_keras``): they serialise with
``get_config`` and load from ``.keras`` files once sg_keras.model is imported.
"""

import keras
import tensorflow as tf

from sg_keras.variables import save_in_place


@keras.saving.register_keras_serializable(package="sg_keras")
class InPlaceRandomUniform(keras.initializers.RandomUniform):
    """keras.initializers.RandomUniform, the same values, made in the variable's size only.

    Run eagerly, its draw, scaling and shift each allocate a tensor the size of
    the variable; run as one graph, TensorFlow scales and shifts the draw in
    place (the shape goes in as a tensor: traced as a constant, the graph peaked
    at twice the variable's size).

    Example:

    >>> initializer = InPlaceRandomUniform(-0.5, 0.5, seed=1)
    >>> values = initializer((3, 2))
    >>> values.shape, bool(abs(values.numpy()).max() <= 0.5)
    (TensorShape([3, 2]), True)
    """

    def __call__(self, shape, dtype=None):
        draw = super().__call__
        return tf.function(lambda shape: draw(shape, dtype), autograph=False)(tf.constant(shape))


@keras.saving.register_keras_serializable(package="sg_keras")
class WordEmbedding(keras.layers.Embedding):
    """keras.layers.Embedding whose matrix is saved with one copy of it at most.

    Example:

    >>> layer = WordEmbedding(10, 4)
    >>> layer(tf.constant([1, 2])).shape
    TensorShape([2, 4])
    """

    def save_own_variables(self, store):
        if self.quantization_mode or self.lora_enabled:  # Keras' own save knows these
            super().save_own_variables(store)
        else:
            save_in_place([self.embeddings], store)


@keras.saving.register_keras_serializable(package="sg_keras")
class ContextSoftmax(keras.layers.Layer):
    """Dense(V) + softmax output layer, its kernel stored as [V, d].

    Mathematically ``keras.layers.Dense(V, use_bias=False, activation="softmax")``;
    the kernel is kept one row per context word (word2vec.c's ``syn1neg``
    layout), so gathering rows for sampled objectives yields sparse gradients.
    Initialised to zeros, as in word2vec.c.

    Example:

    >>> layer = ContextSoftmax(5)
    >>> [round(float(p), 2) for p in layer(tf.ones([1, 3]))[0]]  # zeros: uniform over 5 words
    [0.2, 0.2, 0.2, 0.2, 0.2]
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(self.units, input_shape[-1]), initializer="zeros")

    def save_own_variables(self, store):
        save_in_place([self.kernel], store)

    def logits(self, hidden):
        return tf.matmul(hidden, self.kernel, transpose_b=True)

    def call(self, hidden):
        return tf.nn.softmax(self.logits(hidden))

    def get_config(self):
        return {**super().get_config(), "units": self.units}
