"""The skip-gram model: Embedding hidden layer, Dense softmax output layer.

``SkipGram(word_ids)`` is the tutorial's network: a one-hot word times the
``V x d`` hidden matrix (an Embedding lookup, no activation), then a Dense
layer over the whole vocabulary with softmax, giving P(context word | word).
Training minimises one of three objectives on these same weights:

* ``softmax``: exact full-softmax cross-entropy (cost grows with V);
* ``negative``: negative sampling with k = ``negative`` noise words per pair
  from unigram^0.75: -log σ(h·w_c) - k·E_noise[log σ(-h·w_n)];
* ``sampled``: sampled softmax.

Both approximate objectives draw ``num_sampled`` noise words per batch and
share them across the batch's pairs, so the noise term is one matrix product
(for ``negative`` each pair's noise term is weighted k/num_sampled, an
unbiased estimate of word2vec.c's k independent draws per pair).

As in word2vec.c the learning rate applies per training pair: a batch's
gradient is the sum, not the mean, of its pairs' gradients. The approximate
objectives gather only the rows they touch, so their gradients are
IndexedSlices and SGD updates those rows alone.
"""

import keras
import numpy as np
import tensorflow as tf

LOSSES = ("negative", "softmax", "sampled")
NOISE_POWER = 0.75


@keras.saving.register_keras_serializable(package="sg_keras")
class InPlaceRandomUniform(keras.initializers.RandomUniform):
    """keras.initializers.RandomUniform, the same values, made in the variable's size only.

    Run eagerly, its draw, scaling and shift each allocate a tensor the size of
    the variable; run as one graph, TensorFlow scales and shifts the draw in
    place. For the [V, d] hidden layer that is two matrices' worth less memory,
    which TensorFlow's allocator would otherwise keep for the rest of the run.
    (The shape goes in as a tensor: traced as a constant, the graph peaked at
    twice the variable's size.)
    """

    def __call__(self, shape, dtype=None):
        draw = super().__call__
        return tf.function(lambda shape: draw(shape, dtype), autograph=False)(tf.constant(shape))


@keras.saving.register_keras_serializable(package="sg_keras")
class WordEmbedding(keras.layers.Embedding):
    """keras.layers.Embedding whose matrix is saved with one copy of it at most (save_in_place)."""

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


@keras.saving.register_keras_serializable(package="sg_keras")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate falling linearly from ``initial`` to ``initial * final_fraction``.

    Reaches the final rate at ``total_steps`` and stays there (word2vec.c's schedule).
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


def rows(weight, ids):
    """Rows ``ids`` of a [V, d] weight, read without reading the whole matrix.

    A weight split across parameter servers (a ShardedVariable) is read with
    ``tf.nn.embedding_lookup``: ``tf.gather`` returns its rows out of order (TF 2.21).
    """
    if isinstance(weight, tf.__internal__.distribute.ShardedVariable):
        return tf.nn.embedding_lookup(weight, ids)
    return tf.gather(weight, ids)


def noise_distribution(counts):
    """word2vec's noise distribution: unigram counts raised to the 3/4 power."""
    weights = np.asarray(counts, np.float64) ** NOISE_POWER
    return weights / weights.sum()


def read_in_place(variable):
    """The value of a Keras variable; a sparsely updated one stops being copied on reads.

    TensorFlow copies a variable on every read once sparse ops have updated it
    (copy-on-read mode: [V, d] copied for a few rows' update). This reads it the
    way it reads a dense variable, sharing its buffer, and leaves it so for later
    reads until the next sparse update, which copies the buffer only if such a
    read is still alive (copy-on-write).
    """
    tf_variable = variable.value  # the tf.Variable of a Keras variable
    if hasattr(tf_variable, "read_value_no_copy"):
        return tf_variable.read_value_no_copy()
    return tf.convert_to_tensor(tf_variable)


def save_in_place(variables, store):
    """Saves a layer's variables as Keras does, but from in-place reads (read_in_place).

    Keras' own save_own_variables hands the store the variables, which reads
    each into a new array and the store copies that again; from a read-only
    view of the variable's buffer, only the store's copy is made.
    """
    for index, variable in enumerate(variables):
        store[str(index)] = np.asarray(read_in_place(variable))


@keras.saving.register_keras_serializable(package="sg_keras")
class SkipGram(keras.Model):
    """Skip-gram word2vec: ``model(word_ids)`` → P(context | word) over the vocabulary.

    Args:
      vocab_size: V, number of words.
      dim: d, size of the word vectors (rows of ``embedding``).
      loss: training objective, one of LOSSES.
      negative: k, the weight of the noise term for ``negative``.
      num_sampled: noise words drawn per batch, shared by its pairs.
      seed: seed of the noise sampler.
      noise_counts: word counts defining the unigram^0.75 noise distribution
        (needed to train with ``negative``/``sampled``; saved with the weights).
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
        self.embedding = WordEmbedding(
            vocab_size, dim, name="embedding",
            embeddings_initializer=InPlaceRandomUniform(-0.5 / dim, 0.5 / dim, seed=seed))
        self.context_softmax = ContextSoftmax(vocab_size, name="context_softmax")
        # Cumulative noise distribution, for inverse-CDF sampling.
        self.noise_cdf = self.add_weight(
            name="noise_cdf", shape=(vocab_size,), trainable=False,
            initializer=keras.initializers.Constant(np.arange(1, vocab_size + 1) / vocab_size))
        if noise_counts is not None:
            self.noise_cdf.assign(np.cumsum(noise_distribution(noise_counts)))
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

    def _noise(self, count):
        """``count`` word ids drawn from the noise distribution (inverse CDF)."""
        cdf = self.noise_cdf.value
        uniform = keras.random.uniform((count,), maxval=cdf[-1], seed=self.noise_seed)
        ids = tf.minimum(tf.searchsorted(cdf, uniform, side="right"), self.vocab_size - 1)
        return tf.cast(ids, tf.int64)

    def _batch_noise(self, noise_seed=None):
        """A batch's ``num_sampled`` noise words: ``_noise``, or drawn statelessly from
        ``noise_seed`` (an integer [2] tensor), as asynchronous workers sharing one seed
        generator on a parameter server would draw the same words at the same time."""
        if noise_seed is None:
            return self._noise(self.num_sampled)
        cdf = self.noise_cdf.value
        uniform = tf.random.stateless_uniform((self.num_sampled,), noise_seed, maxval=cdf[-1])
        ids = tf.minimum(tf.searchsorted(cdf, uniform, side="right"), self.vocab_size - 1)
        return tf.cast(ids, tf.int64)

    def _noise_probability(self, ids):
        """Noise probability of each word id (differences of the CDF)."""
        cdf = self.noise_cdf.value
        return tf.gather(cdf, ids) - tf.gather(tf.pad(cdf, [[1, 0]]), ids)

    def pair_losses(self, centre, context, noise_seed=None):
        """Loss of each (centre, context) pair under the model's objective: [B].

        ``noise_seed``: draw the noise words statelessly from it (see ``_batch_noise``).
        """
        centre, context = tf.cast(centre, tf.int64), tf.cast(context, tf.int64)
        # Gathers straight from the tf.Variables: a dense read of the whole
        # matrix (as Embedding.call does) would make every step cost O(V).
        hidden = rows(self.embedding.embeddings.value, centre)
        output = self.context_softmax.kernel.value
        if self.loss_name == "softmax":
            return tf.nn.sparse_softmax_cross_entropy_with_logits(
                context, self.context_softmax.logits(hidden))
        if self.loss_name == "sampled":
            sampled = self._batch_noise(noise_seed)
            true_expected = self.num_sampled * self._noise_probability(context)[:, None]
            sampled_expected = self.num_sampled * self._noise_probability(sampled)
            return tf.nn.sampled_softmax_loss(
                weights=output, biases=tf.zeros([self.vocab_size]),
                labels=context[:, None], inputs=hidden,
                num_sampled=self.num_sampled, num_classes=self.vocab_size,
                sampled_values=(sampled, true_expected, sampled_expected))
        return self.negative_sampling(centre, context, noise_seed)[0]

    def negative_sampling(self, centre, context, noise_seed=None, pair_rows=False):
        """Per-pair losses [B] and gradients for ``negative``, derived by hand.

        The gradients are word2vec.c's updates, written out: with g = σ(logit) - label,
        a hidden row moves along g·(output row) and an output row along g·(hidden
        row). Returned as IndexedSlices for [embedding, output kernel]; a test
        checks them against automatic differentiation. Faster than a GradientTape.

        With the noise words shared by the batch, a pair's noise logits depend on
        its centre word only, so consecutive pairs with the same centre word (the
        pipeline emits a word's pairs together) share one row of noise logits:
        the noise term costs one row per run of pairs, not one per pair.

        ``pair_rows``: give the embedding gradient one row per pair (a run's noise
        part split evenly over its pairs) rather than one per run, so that its
        length is the batch's on every worker: MultiWorkerMirroredStrategy
        all-gathers sparse gradients, and with uneven lengths across workers
        TF 2.21's all-gather fails inside a training loop.
        """
        centre, context = tf.cast(centre, tf.int64), tf.cast(context, tf.int64)
        pair_count = tf.size(centre)
        starts = tf.concat([tf.ones([1], tf.bool), centre[1:] != centre[:-1]], 0)[:pair_count]
        run = tf.cumsum(tf.cast(starts, tf.int32)) - 1  # run of each pair
        run_centre = tf.boolean_mask(centre, starts)
        run_count = tf.size(run_centre)
        run_pairs = tf.math.segment_sum(tf.ones([pair_count]), run)  # pairs in each run
        output = self.context_softmax.kernel.value
        run_hidden = rows(self.embedding.embeddings.value, run_centre)
        hidden = tf.gather(run_hidden, run)
        context_rows = rows(output, context)
        noise = self._batch_noise(noise_seed)
        noise_rows = rows(output, noise)
        positive = tf.reduce_sum(hidden * context_rows, axis=1)
        noise_logits = tf.matmul(run_hidden, noise_rows, transpose_b=True)  # [runs, S]
        # A noise word equal to a pair's context word is skipped for that pair, as in
        # word2vec.c: such (pair, noise word) hits are rare, so they are corrected sparsely.
        # Pairs whose context word is among the noise words, by binary search of the
        # sorted noise words; then their (pair, noise column) cells.
        sorted_noise = tf.sort(noise)
        found = tf.gather(sorted_noise, tf.minimum(
            tf.searchsorted(sorted_noise, context), self.num_sampled - 1))
        candidates = tf.where(tf.equal(found, context))[:, 0]
        hits = tf.where(tf.equal(tf.gather(context, candidates)[:, None], noise[None, :]))
        hit_pairs = tf.gather(candidates, hits[:, 0])
        hit_cells = tf.stack([tf.gather(run, hit_pairs), tf.cast(hits[:, 1], tf.int32)], 1)
        hit_counts = tf.scatter_nd(hit_cells, tf.ones(tf.shape(hit_pairs)),
                                   [run_count, self.num_sampled])
        scale = self.negative / self.num_sampled
        noise_weights = scale * (run_pairs[:, None] - hit_counts)
        noise_probability = tf.sigmoid(noise_logits)
        # softplus(x) = max(x, 0) - log σ(|x|), from the σ(x) the gradient needs (cheaper
        # than TF's Softplus kernel): σ(|x|) is σ(x) for x ≥ 0 and 1 - σ(x) for x < 0, in
        # [0.5, 1] either way, so no cancellation (absolute error ~1e-7).
        noise_losses = tf.nn.relu(noise_logits) - tf.math.log(tf.where(
            noise_logits >= 0, noise_probability, 1.0 - noise_probability))
        pair_noise_loss = tf.gather(scale * tf.reduce_sum(noise_losses, axis=1), run)
        hit_loss = tf.scatter_nd(hit_pairs[:, None],
                                 scale * tf.gather_nd(noise_losses, hit_cells),
                                 tf.shape(centre, tf.int64))
        losses = tf.nn.softplus(-positive) + pair_noise_loss - hit_loss
        positive_grad = tf.sigmoid(positive) - 1.0  # d loss / d positive logit
        noise_grad = noise_probability * noise_weights  # d loss / d noise logits
        run_noise_grad = tf.matmul(noise_grad, noise_rows)
        if pair_rows:
            hidden_grad = positive_grad[:, None] * context_rows + tf.gather(
                run_noise_grad / run_pairs[:, None], run)
            hidden_ids = centre
        else:
            hidden_grad = tf.math.segment_sum(positive_grad[:, None] * context_rows,
                                              run) + run_noise_grad
            hidden_ids = run_centre
        output_grad = tf.concat([positive_grad[:, None] * hidden,
                                 tf.matmul(noise_grad, run_hidden, transpose_a=True)], axis=0)
        shape = tf.constant([self.vocab_size, self.dim], tf.int64)
        return losses, [tf.IndexedSlices(hidden_grad, hidden_ids, shape),
                        tf.IndexedSlices(output_grad, tf.concat([context, noise], 0), shape)]

    def softmax_cross_entropy(self, centre, context):
        """Per-pair losses [B] and gradients for ``softmax``, derived by hand.

        With p = softmax(h·Wᵀ) the logits' gradient is p - onehot(context); taken
        from TF's softmax op, this is about four times faster on CPU than the fused
        SparseSoftmaxCrossEntropyWithLogits kernel on [B, V] logits. The loss is
        -log p[context], p floored at float32's smallest normal number (so a loss
        is at most 87.3). A test checks both against automatic differentiation.
        """
        centre, context = tf.cast(centre, tf.int64), tf.cast(context, tf.int64)
        hidden = rows(self.embedding.embeddings.value, centre)
        kernel = self.context_softmax.kernel.value
        probabilities = tf.nn.softmax(tf.matmul(hidden, kernel, transpose_b=True))
        targets = tf.stack([tf.range(tf.size(context, out_type=tf.int64)), context], axis=1)
        losses = -tf.math.log(tf.maximum(tf.gather_nd(probabilities, targets),
                                         np.finfo(np.float32).tiny))
        logits_grad = tf.tensor_scatter_nd_sub(probabilities, targets, tf.ones_like(losses))
        shape = tf.constant([self.vocab_size, self.dim], tf.int64)
        # (hᵀ·g)ᵀ rather than gᵀ·h: the same product, faster with g ([B, V]) not transposed.
        return losses, [tf.IndexedSlices(tf.matmul(logits_grad, kernel), centre, shape),
                        tf.transpose(tf.matmul(hidden, logits_grad, transpose_a=True))]

    def train_step(self, data):
        centre, context, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = [self.embedding.embeddings, self.context_softmax.kernel]
        if self.loss_name == "negative":
            losses, gradients = self.negative_sampling(centre, context, pair_rows=isinstance(
                tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy))
        elif self.loss_name == "softmax":
            losses, gradients = self.softmax_cross_entropy(centre, context)
        else:
            with tf.GradientTape() as tape:
                losses = self.pair_losses(centre, context)
                total = tf.reduce_sum(losses)
            gradients = tape.gradient(total, variables)
        self.optimizer.apply(gradients, variables)
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

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "loss": self.loss_name, "negative": self.negative,
                "num_sampled": self.num_sampled, "seed": self.seed}
