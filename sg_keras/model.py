"""The skip-gram model: an Embedding hidden layer and a Dense softmax output layer.

``SkipGram(word_ids)`` is the tutorial's network: a one-hot word times the
``V x d`` hidden matrix (an Embedding lookup, no activation), then a Dense layer
over the whole vocabulary with softmax, giving P(context word | word). Training
minimises one of the objectives of sg_keras.objectives on these same weights;
the approximate ones gather only the rows they touch, so their gradients are
IndexedSlices and SGD updates those rows alone.

With ``subwords`` (fastText's skip-gram) the hidden layer is a SubwordEmbedding: a
word's vector is the mean of its own row and its character n-grams' rows. With
``loss="hs"`` the output layer is a TreeSoftmax: P(context | word) along the Huffman tree
of the word counts (hierarchical softmax).
"""

import keras
import numpy as np
import tensorflow as tf

from sg_keras import huffman, noise, objectives
from sg_keras import optimizers  # noqa: F401  (a compiled model saves its RowSGD)
from sg_keras import schedules  # noqa: F401  (a compiled model saves its LinearDecay)
from sg_keras.layers import (ContextSoftmax, InPlaceRandomUniform, SubwordEmbedding,
                             TreeSoftmax, WordEmbedding)
from sg_keras.variables import read_in_place, shards


@keras.saving.register_keras_serializable(package="sg_keras")
class SkipGram(keras.Model):
    """Skip-gram word2vec: ``model(word_ids)`` → P(context | word) over the vocabulary.

    Args:
      vocab_size: V, number of words.
      dim: d, size of the word vectors (rows of ``embedding``).
      loss: training objective, one of objectives.LOSSES.
      negative: k, the weight of the noise term for ``negative``.
      num_sampled: noise words drawn per batch (``negative``) or per
        objectives.PAIRS_PER_DRAW pairs (``sampled``), shared by those pairs.
      seed: seed of the initial vectors and of the noise sampler.
      noise_counts: word counts defining the noise distribution (needed to train
        with ``negative``/``sampled``) and, for ``hs``, the Huffman tree; saved with
        the weights.
      subwords: None (plain word2vec), or the SubwordEmbedding's shape as a dict
        (``buckets``, ``min_n``, ``max_n``, ``num_pieces``, ``max_pieces``).
      word_pieces: a new model's pieces (sg_keras.subwords.word_pieces, a RaggedTensor
        [V, None]); ``subwords`` is then made from them and ``buckets``, ``min_n``, ``max_n``.
      path_nodes: for ``hs``, the length of all words' paths together (a loaded model's;
        a new one's comes from its tree).
      tree: for a new ``hs`` model, its words' paths (sg_keras.huffman.paths of
        ``noise_counts``), when already made; else they are made from ``noise_counts``.

    ``gradient_rows_per_pair`` (not a setting of the model, but of how it is
    trained): the embedding gradient has a length fixed by the batch's, as
    MultiWorkerMirroredStrategy's all-gather needs: one row per pair
    (objectives.negative_sampling), ``max_pieces`` rows per pair with subwords
    (SubwordEmbedding.row_gradient).

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
                 seed=None, noise_counts=None, subwords=None, word_pieces=None,
                 path_nodes=None, tree=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.dim = dim
        self.loss_name = loss
        self.negative = negative
        self.num_sampled = num_sampled
        self.seed = seed
        self.gradient_rows_per_pair = False
        if word_pieces is not None:
            lengths = word_pieces.row_lengths().numpy()
            subwords = {**subwords, "num_pieces": int(lengths.sum()),
                        "max_pieces": int(lengths.max())}
        self.subwords = subwords
        if subwords is None:
            self.embedding = WordEmbedding(
                vocab_size, dim, name="embedding",
                embeddings_initializer=InPlaceRandomUniform(-0.5 / dim, 0.5 / dim, seed=seed))
        else:  # fastText's initialisation
            self.embedding = SubwordEmbedding(
                vocab_size, dim=dim, name="embedding", **subwords,
                embeddings_initializer=InPlaceRandomUniform(-1 / dim, 1 / dim, seed=seed))
        if loss == "hs" and tree is None and noise_counts is not None:
            tree = huffman.paths(noise_counts)
        if tree is not None:
            path_nodes = len(tree[0])
        self.path_nodes = path_nodes
        if loss == "hs":
            self.context_softmax = TreeSoftmax(vocab_size, path_nodes, name="context_softmax")
        else:
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
        if word_pieces is not None:
            self.embedding.assign_pieces(word_pieces)
        if tree is not None:
            self.context_softmax.assign_paths(*tree)

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
        """The two trained matrices as TF variables: [hidden layer, output kernel].

        Gathered from directly: a dense read of the whole matrix (as Embedding.call
        does) would make every step cost O(V).
        """
        return [self.embedding.embeddings.value, self.context_softmax.kernel.value]

    @property
    def random_state(self):
        """The noise sampler's state (a tf.Variable): not a weight, so model files leave it
        out, but a resumed run must restore it to draw what the interrupted run would have."""
        return self.noise_seed.state.value

    def noise_words(self, seed=None, draws=None):
        """A batch's ``num_sampled`` noise words, or with ``draws`` a [draws, num_sampled]
        matrix of them (``sampled``: one draw per group of pairs); drawn statelessly from
        ``seed`` (an integer [2] tensor) if given, as asynchronous workers sharing one seed
        generator on a parameter server would draw the same words at the same time."""
        cdf = self.noise_cdf.value
        shape = (self.num_sampled,) if draws is None else (draws, self.num_sampled)
        if seed is None:
            uniform = keras.random.uniform(shape, maxval=cdf[-1], seed=self.noise_seed)
        else:
            uniform = tf.random.stateless_uniform(shape, seed, maxval=cdf[-1])
        return noise.draw(cdf, uniform)

    def hidden_losses(self, hidden, context, noise_seed=None):
        """Loss of each pair under ``softmax`` or ``sampled``, from its centre word's
        vector ``hidden`` [B, d] (differentiate with a GradientTape)."""
        output = self.context_softmax.kernel.value
        if self.loss_name == "softmax":
            return objectives.softmax_losses(hidden, output, context)
        if self.loss_name == "hs":
            return objectives.hierarchical_softmax(
                hidden, output, *self.context_softmax.paths(context))[0]
        return objectives.sampled_softmax(
            hidden, output, context,
            self.noise_words(noise_seed, draws=objectives.draws(tf.size(context))),
            lambda ids: noise.probability(self.noise_cdf.value, ids))

    def pair_losses(self, centre, context, noise_seed=None):
        """Loss of each (centre, context) pair under the model's objective: [B]."""
        centre, context = tf.cast(centre, tf.int64), tf.cast(context, tf.int64)
        if self.loss_name == "negative":
            return self.losses_and_gradients(centre, context, noise_seed)[0]
        return self.hidden_losses(self.embedding.rows(centre), context, noise_seed)

    def losses_and_gradients(self, centre, context, noise_seed=None):
        """(losses [B], gradients for ``matrices``) under the model's objective.

        The hidden layer's gradient is the update its ``lookup`` gives for the gradient
        of the rows looked up: for a SubwordEmbedding, fastText's update of every piece
        of a word.
        Under a parameter server the output kernel's gradient of ``softmax`` and
        ``sampled`` is a list, one per shard of the kernel.
        """
        centre, context = tf.cast(centre, tf.int64), tf.cast(context, tf.int64)
        output = self.context_softmax.kernel.value
        updates = []  # the hidden layer's update function of the rows looked up

        def input_rows(ids):
            vectors, update = self.embedding.lookup(ids)
            updates.append(update)
            return vectors

        if self.loss_name == "negative":
            losses, (ids, hidden_grad), output_grad = objectives.negative_sampling(
                input_rows, output, centre, context, self.noise_words(noise_seed),
                self.negative, pair_rows=self.gradient_rows_per_pair)
        else:
            hidden = input_rows(centre)
            ids = centre
            output_shards = shards(output)
            if self.loss_name == "softmax" and len(output_shards) == 1:
                losses, (hidden_grad, output_grad) = objectives.softmax_cross_entropy(
                    hidden, output, context)
            elif self.loss_name == "hs" and len(output_shards) == 1:
                nodes, codes, owners = self.context_softmax.paths(context)
                losses, (hidden_grad, output_grad) = objectives.hierarchical_softmax(
                    hidden, output, nodes, codes, owners)
                if self.gradient_rows_per_pair:  # a length fixed by the batch's
                    output_grad = _padded(output_grad, tf.size(context, out_type=tf.int64)
                                          * self.context_softmax.longest_path()
                                          + objectives.TOP_NODES)
            else:  # (a sharded kernel: its shards' gradients)
                with tf.GradientTape() as tape:
                    tape.watch(hidden)
                    losses = self.hidden_losses(hidden, context, noise_seed)
                    total = tf.reduce_sum(losses)
                hidden_grad, *output_grad = tape.gradient(total, [hidden, *output_shards])
                if len(output_grad) == 1:
                    output_grad = output_grad[0]
        if self.gradient_rows_per_pair:  # one length whatever the words (see row_gradient)
            embedding_grad = self.embedding.row_gradient(ids, hidden_grad, fixed_length=True)
        else:
            embedding_grad = updates[0](hidden_grad)
        return losses, [embedding_grad, output_grad]

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
        """The vocabulary's word vectors [V, d] as read-only numpy: row i is word i's vector.

        A snapshot of ``word_vectors_tensor()``, sharing its buffer.
        """
        return np.asarray(self.word_vectors_tensor())

    def word_vectors_tensor(self):
        """The word vectors [V, d] as a tensor: the hidden-layer matrix read in place (see
        read_in_place: no memory of its own until a training step updates the vectors),
        or with subwords each word's vector composed from its pieces."""
        return self.embedding.word_vectors()

    def ngram_vectors(self):
        """The n-gram buckets' rows [buckets, d] as read-only numpy (a model with subwords)."""
        return self.embedding.ngram_vectors()

    def output_kernel(self):
        """The output layer's kernel [V, d] as numpy: row i scores word i as a context."""
        return np.asarray(read_in_place(self.context_softmax.kernel))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "loss": self.loss_name, "negative": self.negative,
                "num_sampled": self.num_sampled, "seed": self.seed,
                "subwords": self.subwords, "path_nodes": self.path_nodes}


def _padded(slices, length):
    """IndexedSlices of ``length`` rows: ``slices`` then rows of zeros for row 0."""
    padding = length - tf.shape(slices.indices, out_type=length.dtype)[0]
    return tf.IndexedSlices(tf.pad(slices.values, [[0, padding], [0, 0]]),
                            tf.pad(slices.indices, [[0, padding]]), slices.dense_shape)
