"""The skip-gram model: an Embedding hidden layer and a Dense softmax output layer.

``SkipGram(word_ids)`` is the tutorial's network: a one-hot word times the
``V x d`` hidden matrix (an Embedding lookup, no activation), then a Dense layer
over the whole vocabulary with softmax, giving P(context word | word). Training
minimises one of the objectives of sg_keras.objectives on these same weights;
the approximate ones gather only the rows they touch, so their gradients are
IndexedSlices and SGD updates those rows alone.
"""

import keras
import numpy as np
import tensorflow as tf

from sg_keras import noise, objectives
from sg_keras import schedules  # noqa: F401  (a compiled model saves its LinearDecay)
from sg_keras.layers import ContextSoftmax, InPlaceRandomUniform, WordEmbedding
from sg_keras.variables import read_in_place


@keras.saving.register_keras_serializable(package="sg_keras")
class SkipGram(keras.Model):
    """Skip-gram word2vec: ``model(word_ids)`` → P(context | word) over the vocabulary.

    Args:
      vocab_size: V, number of words.
      dim: d, size of the word vectors (rows of ``embedding``).
      loss: training objective, one of objectives.LOSSES.
      negative: k, the weight of the noise term for ``negative``.
      num_sampled: noise words drawn per batch, shared by its pairs.
      seed: seed of the initial vectors and of the noise sampler.
      noise_counts: word counts defining the noise distribution (needed to train
        with ``negative``/``sampled``; saved with the weights).

    ``gradient_rows_per_pair`` (not a setting of the model, but of how it is
    trained): ``negative``'s embedding gradient has one row per pair, as
    MultiWorkerMirroredStrategy's all-gather needs (objectives.negative_sampling).

    Example:

    >>> import keras, tensorflow as tf
    >>> model = SkipGram(vocab_size=4, dim=3, noise_counts=[4, 3, 2, 1], seed=1)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.025))
    >>> pairs = tf.data.Dataset.from_tensors((tf.constant([0, 0, 1]), tf.constant([1, 2, 0])))
    >>> history = model.fit(pairs, epochs=2, shuffle=False, verbose=0)
    >>> model(tf.constant([0])).shape, model.word_vectors().shape
    (TensorShape([1, 4]), (4, 3))
    """

    def __init__(self, vocab_size, dim, loss="negative", negative=5, num_sampled=64,
                 seed=None, noise_counts=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.dim = dim
        self.loss_name = loss
        self.negative = negative
        self.num_sampled = num_sampled
        self.seed = seed
        self.gradient_rows_per_pair = False
        self.embedding = WordEmbedding(
            vocab_size, dim, name="embedding",
            embeddings_initializer=InPlaceRandomUniform(-0.5 / dim, 0.5 / dim, seed=seed))
        self.context_softmax = ContextSoftmax(vocab_size, name="context_softmax")
        # Cumulative noise distribution, for inverse-CDF sampling.
        self.noise_cdf = self.add_weight(
            name="noise_cdf", shape=(vocab_size,), trainable=False,
            initializer=keras.initializers.Constant(np.arange(1, vocab_size + 1) / vocab_size))
        if noise_counts is not None:
            self.noise_cdf.assign(np.cumsum(noise.distribution(noise_counts)))
        self.noise_seed = keras.random.SeedGenerator(seed, name="noise_seed")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.build((None,))

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.context_softmax.build((None, self.dim))
        self.built = True

    def call(self, word_ids):
        return self.context_softmax(self.embedding(word_ids))

    @property
    def metrics(self):
        return [self.loss_tracker]

    @property
    def matrices(self):
        """The two trained matrices as TF variables: [hidden layer, output kernel], [V, d] each.

        Gathered from directly: a dense read of the whole matrix (as Embedding.call
        does) would make every step cost O(V).
        """
        return [self.embedding.embeddings.value, self.context_softmax.kernel.value]

    @property
    def random_state(self):
        """The noise sampler's state (a tf.Variable): not a weight, so model files leave it
        out, but a resumed run must restore it to draw what the interrupted run would have."""
        return self.noise_seed.state.value

    def noise_words(self, seed=None):
        """A batch's ``num_sampled`` noise words; drawn statelessly from ``seed`` (an
        integer [2] tensor) if given, as asynchronous workers sharing one seed
        generator on a parameter server would draw the same words at the same time."""
        cdf = self.noise_cdf.value
        if seed is None:
            uniform = keras.random.uniform((self.num_sampled,), maxval=cdf[-1],
                                           seed=self.noise_seed)
        else:
            uniform = tf.random.stateless_uniform((self.num_sampled,), seed, maxval=cdf[-1])
        return noise.draw(cdf, uniform)

    def pair_losses(self, centre, context, noise_seed=None):
        """Loss of each (centre, context) pair under the model's objective: [B]."""
        centre, context = tf.cast(centre, tf.int64), tf.cast(context, tf.int64)
        embeddings, output = self.matrices
        if self.loss_name == "softmax":
            return objectives.softmax_losses(embeddings, output, centre, context)
        if self.loss_name == "sampled":
            return objectives.sampled_softmax(
                embeddings, output, centre, context, self.noise_words(noise_seed),
                lambda ids: noise.probability(self.noise_cdf.value, ids))
        return self.losses_and_gradients(centre, context, noise_seed)[0]

    def losses_and_gradients(self, centre, context, noise_seed=None):
        """(losses [B], gradients for ``matrices``) under the model's objective."""
        centre, context = tf.cast(centre, tf.int64), tf.cast(context, tf.int64)
        embeddings, output = self.matrices
        if self.loss_name == "negative":
            return objectives.negative_sampling(
                embeddings, output, centre, context, self.noise_words(noise_seed),
                self.negative, pair_rows=self.gradient_rows_per_pair)
        if self.loss_name == "softmax":
            return objectives.softmax_cross_entropy(embeddings, output, centre, context)
        with tf.GradientTape() as tape:
            losses = self.pair_losses(centre, context, noise_seed)
            total = tf.reduce_sum(losses)
        return losses, tape.gradient(total, [self.embedding.embeddings,
                                             self.context_softmax.kernel])

    def train_step(self, data):
        centre, context, _ = keras.utils.unpack_x_y_sample_weight(data)
        losses, gradients = self.losses_and_gradients(centre, context)
        self.optimizer.apply(gradients, [self.embedding.embeddings, self.context_softmax.kernel])
        self.loss_tracker.update_state(losses)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        centre, context, _ = keras.utils.unpack_x_y_sample_weight(data)
        self.loss_tracker.update_state(self.pair_losses(centre, context))
        return {"loss": self.loss_tracker.result()}

    def word_vectors(self):
        """The hidden-layer matrix [V, d] as read-only numpy: row i is word i's vector.

        A snapshot of ``word_vectors_tensor()``, sharing its buffer.
        """
        return np.asarray(self.word_vectors_tensor())

    def word_vectors_tensor(self):
        """The hidden-layer matrix [V, d] as a tensor, read in place (see read_in_place):
        it takes no memory of its own until a training step updates the vectors."""
        return read_in_place(self.embedding.embeddings)

    def output_kernel(self):
        """The output layer's kernel [V, d] as numpy: row i scores word i as a context."""
        return np.asarray(read_in_place(self.context_softmax.kernel))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "loss": self.loss_name, "negative": self.negative,
                "num_sampled": self.num_sampled, "seed": self.seed}
