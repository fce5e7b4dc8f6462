"""TextEmbedding: a Keras layer from raw sentences to one vector each, on trained word vectors.

The native Keras way to reuse sg_keras's vectors in a model: the sentences are
tokenised in-graph with the training tokenizer (sg_keras.text.tokenize), the tokens
looked up with a ``keras.layers.StringLookup`` over the vocabulary, their rows of a
``keras.layers.Embedding`` (the trained vectors; frozen unless ``trainable``)
combined as TF Hub's text-embedding modules combine them: sqrt-n, their sum over
the square root of their number. Tokens not in the vocabulary are left out; a
sentence without a known token gets zeros. The layer saves and loads in a
``.keras`` file.

It covers vocabulary words; the export's ``embed`` signature (through
``keras.layers.TFSMLayer``) also joins phrases and composes unseen words from their
n-grams, as the served model does for every query.
"""

import keras
import numpy as np
import tensorflow as tf

from sg_keras import text


@keras.saving.register_keras_serializable(package="sg_keras")
class TextEmbedding(keras.layers.Layer):
    """Sentences [N] (strings) → [N, d] float32, the sqrt-n combination of their words' vectors.

    Args:
      vocabulary: the words, row i of the vectors for word i.
      output_dim: the vectors' size d.
      tokenizer: the training tokenizer (sg_keras.text.TOKENIZERS).
      trainable: whether ``fit`` updates the vectors.

    Example:

    >>> from sg_keras.word_vectors import WordVectors
    >>> layer = TextEmbedding.from_word_vectors(
    ...     WordVectors(["good", "bad"], [[1.0, 0.0], [0.0, 1.0]]), tokenizer="whitespace")
    >>> layer(tf.constant(["good good", "bad unknown", "nothing"])).numpy().round(3)
    array([[1.414, 0.   ],
           [0.   , 1.   ],
           [0.   , 0.   ]], dtype=float32)

    In a model: ``keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))`` with
    ``inputs = keras.Input(shape=(), dtype="string")``; ``model.save("m.keras")`` keeps the
    vocabulary and the vectors, and ``keras.saving.load_model("m.keras")`` loads it once
    ``sg_keras.text_embedding`` is imported.
    """

    def __init__(self, vocabulary, output_dim, tokenizer="unicode", trainable=False, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        text.check_tokenizer(tokenizer)
        self.vocabulary = list(vocabulary)
        self.output_dim = output_dim
        self.tokenizer = tokenizer
        # Index 0: any word outside the vocabulary (its row is never used).
        self.lookup = keras.layers.StringLookup(vocabulary=self.vocabulary, num_oov_indices=1,
                                                mask_token=None, name="lookup")
        self.embedding = keras.layers.Embedding(len(self.vocabulary) + 1, output_dim,
                                                trainable=trainable, name="embedding")

    @classmethod
    def from_word_vectors(cls, word_vectors, tokenizer="unicode", trainable=False, **kwargs):
        """The layer over a sg_keras.WordVectors (e.g. ``WordVectors.from_model_dir(DIR)``;
        give the model's tokenizer)."""
        layer = cls(word_vectors.index_to_key, word_vectors.vector_size, tokenizer, trainable,
                    **kwargs)
        layer.build()
        layer.embedding.embeddings.assign(np.concatenate(
            [np.zeros((1, word_vectors.vector_size), np.float32), word_vectors.vectors]))
        return layer

    @classmethod
    def from_model_dir(cls, path, trainable=False, **kwargs):
        """The layer over a trained model_dir's vocabulary and vectors, with its tokenizer."""
        from sg_keras.model_dir import ModelDir
        from sg_keras.word_vectors import WordVectors

        tokenizer = ModelDir(path).read_record()["settings"]["tokenizer"]
        return cls.from_word_vectors(WordVectors.from_model_dir(path), tokenizer, trainable,
                                     **kwargs)

    def build(self, input_shape=None):
        self.embedding.build((None,))
        self.built = True

    def call(self, sentences):
        tokens = text.tokenize(tf.reshape(sentences, [-1]), self.tokenizer)
        ids = self.lookup(tokens.flat_values)
        known = tf.cast(ids > 0, self.compute_dtype)
        vectors = self.embedding(ids) * known[:, None]
        sentence_of_token, count = tokens.value_rowids(), tokens.nrows()
        sums = tf.math.unsorted_segment_sum(vectors, sentence_of_token, count)
        known_tokens = tf.math.unsorted_segment_sum(known, sentence_of_token, count)
        return tf.math.divide_no_nan(sums, tf.sqrt(known_tokens)[:, None])

    def compute_output_shape(self, input_shape):
        return (input_shape[0] if input_shape else None, self.output_dim)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary,
                "output_dim": self.output_dim, "tokenizer": self.tokenizer}
