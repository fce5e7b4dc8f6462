"""The skip-gram model's Keras layers: the hidden layer (words, or words and their
character n-grams), the output layer, the initializer.

Both hidden layers answer ``lookup(ids)``: each word's vector ([n, d], gathered
without reading the matrix whole) and the function that turns a gradient of those
vectors into the IndexedSlices update of their matrix; ``rows(ids)`` gives the
vectors alone, ``row_gradient(ids, gradient)`` the update alone. So the objectives
(sg_keras.objectives) work on either.

Each is a registered Keras class (package ``sg_keras``): they serialise with
``get_config`` and load from ``.keras`` files once sg_keras.model is imported.
"""

import keras
import numpy as np
import tensorflow as tf

from sg_keras import objectives, subwords
from sg_keras.variables import (dense_shape, read_in_place, rows, save_in_place,
                                sum_repeated_rows)



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

    def lookup(self, ids):
        """(word vectors of ``ids`` [n, d], gradient → the matrix's IndexedSlices update)."""
        shape = dense_shape(self.embeddings.value)
        return (rows(self.embeddings.value, ids),
                lambda hidden_gradient: tf.IndexedSlices(hidden_gradient, ids, shape))

    def rows(self, ids):
        """Word vectors of ``ids`` [n]: [n, d]."""
        return self.lookup(ids)[0]

    def row_gradient(self, ids, hidden_gradient, fixed_length=False):
        """The update of the matrix for the gradient [n, d] of ``rows(ids)``: IndexedSlices."""
        del fixed_length  # always one row per id
        return self.lookup(ids)[1](hidden_gradient)

    def word_vectors(self):
        """The [V, d] word vectors, read in place (sg_keras.variables.read_in_place)."""
        return read_in_place(self.embeddings)

    def save_own_variables(self, store):
        if self.quantization_mode or self.lora_enabled:  # Keras' own save knows these
            super().save_own_variables(store)
        else:
            save_in_place([self.embeddings], store)


@keras.saving.register_keras_serializable(package="sg_keras")
class SubwordEmbedding(keras.layers.Layer):
    """fastText's input layer: a word's vector is the mean of its pieces' rows.

    The matrix ``embeddings`` has ``vocab_size + buckets`` rows: the words', then
    the character n-gram buckets' (sg_keras.subwords). Each word's pieces (its row
    and its n-grams' rows, sg_keras.subwords.word_pieces) are the non-trainable
    weights ``piece_rows`` (all words' pieces in a row) and ``piece_splits`` (word
    i's pieces are ``piece_rows[piece_splits[i]:piece_splits[i + 1]]``).

    As in fastText and gensim's FastText, each piece's row moves by the gradient of
    the word's vector itself, not by its 1/n share (``row_gradient``).

    Args:
      vocab_size: V.
      buckets: number of n-gram rows.
      dim: d.
      num_pieces: length of ``piece_rows`` (all words' pieces).
      max_pieces: the most pieces of one word.
      min_n, max_n: the n-gram lengths (recorded for unseen words: ``ngram_vectors``).
      embeddings_initializer: initializer of the whole matrix.

    Example:

    >>> pieces = subwords.word_pieces(["ab", "b"], min_n=3, max_n=3, buckets=10)
    >>> layer = SubwordEmbedding(vocab_size=2, buckets=10, dim=4, num_pieces=5, max_pieces=3,
    ...                          min_n=3, max_n=3)
    >>> layer.build()
    >>> layer.assign_pieces(pieces)
    >>> layer.rows(tf.constant([0, 1])).shape
    TensorShape([2, 4])
    """

    def __init__(self, vocab_size, buckets, dim, num_pieces, max_pieces, min_n, max_n,
                 embeddings_initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.buckets = buckets
        self.dim = dim
        self.num_pieces = num_pieces
        self.max_pieces = max_pieces
        self.min_n = min_n
        self.max_n = max_n
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.vocab_size + self.buckets, self.dim),
            initializer=self.embeddings_initializer)
        self.piece_rows = self.add_weight(name="piece_rows", shape=(self.num_pieces,),
                                          dtype="int64", initializer="zeros", trainable=False)
        self.piece_splits = self.add_weight(name="piece_splits", shape=(self.vocab_size + 1,),
                                            dtype="int64", initializer="zeros",
                                            trainable=False)
        self.built = True

    def assign_pieces(self, word_pieces):
        """Sets the words' pieces from a RaggedTensor [V, None] (subwords.word_pieces)."""
        self.piece_rows.assign(word_pieces.flat_values)
        self.piece_splits.assign(word_pieces.row_splits)

    def _pieces(self, ids):
        """(each id's pieces' rows, flat; the position in ``ids`` of each): ids' pieces."""
        ids = tf.cast(ids, tf.int64)
        splits = self.piece_splits.value
        ranges = tf.ragged.range(tf.gather(splits, ids), tf.gather(splits, ids + 1))
        return tf.gather(self.piece_rows.value, ranges.flat_values), ranges.value_rowids()

    def lookup(self, ids):
        """(word vectors of ``ids`` [n, d]: the mean of each one's piece rows; gradient →
        the matrix's update). The update gives every piece row of word ``ids[i]`` row i of
        the gradient undivided (fastText's update), summed per row: its indices are the
        distinct rows, in increasing order."""
        pieces, owners = self._pieces(ids)  # every word has a piece: its own row
        vectors = tf.math.segment_mean(rows(self.embeddings.value, pieces), owners)

        def update(hidden_gradient):
            distinct, sums = sum_repeated_rows(pieces, tf.gather(hidden_gradient, owners))
            return tf.IndexedSlices(sums, distinct, dense_shape(self.embeddings.value))

        return vectors, update

    def rows(self, ids):
        """Word vectors of ``ids`` [n]: the mean of each one's piece rows, [n, d]."""
        return self.lookup(ids)[0]

    def word_pieces(self):
        """The words' pieces as a RaggedTensor [V, None] (subwords.word_pieces)."""
        return tf.RaggedTensor.from_row_splits(self.piece_rows.value, self.piece_splits.value)

    def row_gradient(self, ids, hidden_gradient, fixed_length=False):
        """The update of the matrix for the gradient [n, d] of ``rows(ids)``: every piece row
        of word ``ids[i]`` gets row i undivided (fastText's update).

        ``fixed_length``: give ``n · max_pieces`` rows whatever the words (padding rows
        of zeros), as MultiWorkerMirroredStrategy's all-gather needs.
        """
        if not fixed_length:
            return self.lookup(ids)[1](hidden_gradient)
        splits = self.piece_splits.value
        ids = tf.cast(ids, tf.int64)
        starts = tf.gather(splits, ids)[:, None] + tf.range(self.max_pieces, dtype=tf.int64)
        inside = starts < tf.gather(splits, ids + 1)[:, None]
        pieces = tf.reshape(tf.gather(self.piece_rows.value, tf.where(inside, starts, 0)), [-1])
        values = tf.reshape(tf.where(inside[:, :, None], hidden_gradient[:, None, :], 0.0),
                            [-1, self.dim])
        return tf.IndexedSlices(values, pieces, dense_shape(self.embeddings.value))

    def call(self, ids):
        vectors = self.rows(tf.reshape(ids, [-1]))
        return tf.reshape(vectors, tf.concat([tf.shape(ids), [self.dim]], axis=0))

    def word_vectors(self):
        """The [V, d] vectors of the vocabulary's words, composed from their pieces."""
        return subwords.vocabulary_vectors(read_in_place(self.embeddings), self.word_pieces())

    def ngram_vectors(self):
        """The [buckets, d] n-gram rows as read-only numpy, a view of the matrix read in
        place (a slice of the tensor would be a copy)."""
        return np.asarray(read_in_place(self.embeddings))[self.vocab_size:]

    def save_own_variables(self, store):
        save_in_place([self.embeddings, self.piece_rows, self.piece_splits], store)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets,
                "dim": self.dim, "num_pieces": self.num_pieces, "max_pieces": self.max_pieces,
                "min_n": self.min_n, "max_n": self.max_n,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer)}


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


@keras.saving.register_keras_serializable(package="sg_keras")
class TreeSoftmax(ContextSoftmax):
    """The output layer of hierarchical softmax: P(context | word) along a Huffman tree.

    The kernel keeps ContextSoftmax's [V, d] shape, as gensim's ``syn1``: row i < V - 1 is
    inner node i of the tree (sg_keras.huffman), the last row is unused. The words' paths
    are the non-trainable weights ``path_nodes``, ``path_codes`` (all words' paths in a
    row) and ``path_splits`` (word i's are ``[path_splits[i]:path_splits[i + 1]]``).
    Initialised to zeros, as in word2vec.c: every word starts at P = 2^-(its path length).

    Example:

    >>> from sg_keras import huffman
    >>> layer = TreeSoftmax(3, path_nodes=5)
    >>> layer.build((None, 2))
    >>> layer.assign_paths(*huffman.paths([5, 3, 2]))
    >>> [round(float(p), 2) for p in layer(tf.ones([1, 2]))[0]]
    [0.5, 0.25, 0.25]
    """

    def __init__(self, units, path_nodes, **kwargs):
        super().__init__(units, **kwargs)
        self.path_nodes = path_nodes

    def build(self, input_shape):
        super().build(input_shape)
        self.nodes = self.add_weight(name="path_nodes", shape=(self.path_nodes,),
                                     dtype="int64", initializer="zeros", trainable=False)
        self.codes = self.add_weight(name="path_codes", shape=(self.path_nodes,),
                                     initializer="zeros", trainable=False)
        self.splits = self.add_weight(name="path_splits", shape=(self.units + 1,),
                                      dtype="int64", initializer="zeros", trainable=False)

    def assign_paths(self, nodes, codes, splits):
        """Sets the words' paths (sg_keras.huffman.paths)."""
        self.nodes.assign(nodes)
        self.codes.assign(codes)
        self.splits.assign(splits)

    def paths(self, ids):
        """(nodes, codes, owners) [T] of the paths of ``ids`` [B], concatenated: the inner
        nodes' rows, their branches, and the position in ``ids`` of each."""
        splits = self.splits.value
        ids = tf.cast(ids, tf.int64)
        ranges = tf.ragged.range(tf.gather(splits, ids), tf.gather(splits, ids + 1))
        return (tf.gather(self.nodes.value, ranges.flat_values),
                tf.gather(self.codes.value, ranges.flat_values), ranges.value_rowids())

    def longest_path(self):
        """The length of the longest path (int64 tensor)."""
        splits = self.splits.value
        return tf.reduce_max(splits[1:] - splits[:-1])

    def call(self, hidden):
        return tf.exp(objectives.tree_log_probabilities(
            hidden, self.kernel.value, self.nodes.value, self.codes.value, self.splits.value))

    def save_own_variables(self, store):
        save_in_place([self.kernel, self.nodes, self.codes, self.splits], store)

    def get_config(self):
        return {**super().get_config(), "path_nodes": self.path_nodes}
