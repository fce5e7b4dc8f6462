"""Subwords: fastText's character n-grams and their hash, as pure TensorFlow ops.

A word's *pieces* are, as in fastText (Bojanowski et al., 2017) and gensim's
FastText, the character n-grams of ``<word>`` (boundary markers added) for n from
``min_n`` to ``max_n``, each hashed into one of ``buckets`` rows with fastText's
hash: 32-bit FNV-1a over the n-gram's UTF-8 bytes, each byte sign-extended as
fastText's ``int8_t`` cast does. A vocabulary word's vector is the mean of its
own row and its n-grams' rows; an unseen word's is the mean of its n-grams'
rows (zeros if it has none). Every function here is core TensorFlow ops only, so
training, evaluation and the serving SavedModel compute the same pieces.

The rows are laid out as fastText lays out its input matrix: the V word rows
first, then the ``buckets`` n-gram rows, so n-gram bucket b is row V + b.
"""

import tensorflow as tf

from sg_keras.variables import rows

BEGIN_OF_WORD = "<"
END_OF_WORD = ">"
END_OF_SENTENCE = "</s>"  # fastText's end-of-line token: it has no n-grams
_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619


def character_ngrams(words, min_n, max_n):
    """The character n-grams of ``<word>`` for each of ``words`` [N]: a RaggedTensor [N, None].

    Characters are UTF-8 code points (fastText groups a lead byte with its
    continuation bytes); with ``min_n`` = 1 the lone markers ``<`` and ``>`` are
    not n-grams, as in fastText. A word shorter than n has no n-grams of width n.

    Example:

    >>> character_ngrams(tf.constant(["where"]), 3, 3).to_list()
    [[b'<wh', b'whe', b'her', b'ere', b're>']]
    """
    words = tf.convert_to_tensor(words, tf.string)
    characters = tf.strings.unicode_split(BEGIN_OF_WORD + words + END_OF_WORD, "UTF-8",
                                          errors="replace")
    widths = []
    for width in range(min_n, max_n + 1):
        if width == 1:
            widths.append(characters[:, 1:-1])
        else:
            widths.append(tf.strings.ngrams(characters, width, separator=""))
    return tf.concat(widths, axis=1)


def fasttext_hash(strings):
    """fastText's hash of each string [M]: int64 in 0 … 2**32 - 1.

    32-bit FNV-1a, each byte sign-extended first (``uint32_t(int8_t(c))``):
    fastText's Dictionary::hash, and gensim's ``ft_hash_bytes``. One pass over the
    byte positions (a while loop), vectorised over the strings.

    Example:

    >>> int(fasttext_hash(tf.constant(["<wh"]))[0])
    1048167652
    """
    strings = tf.convert_to_tensor(strings, tf.string)
    lengths = tf.strings.length(strings)
    width = tf.reduce_max(tf.concat([lengths, [1]], axis=0))
    data = tf.cast(tf.io.decode_raw(strings, tf.uint8, fixed_length=width), tf.uint32)
    columns = tf.transpose(tf.where(data >= 128, data | 0xFFFFFF00, data))  # int8 → uint32
    prime = tf.constant(_FNV_PRIME, tf.uint32)

    def step(position, hashes):  # uint32 arithmetic wraps modulo 2**32, as in C
        mixed = (hashes ^ columns[position]) * prime
        return position + 1, tf.where(position < lengths, mixed, hashes)

    _, hashes = tf.while_loop(
        lambda position, _: position < width, step,
        (tf.constant(0), tf.fill(tf.shape(lengths), tf.constant(_FNV_OFFSET, tf.uint32))))
    return tf.cast(hashes, tf.int64)


def ngram_buckets(words, min_n, max_n, buckets):
    """The bucket (0 … buckets - 1) of each character n-gram of each word: ragged int64 [N, None].

    fastText's end-of-sentence token ``</s>`` has none.

    Example:

    >>> ngram_buckets(tf.constant(["where", "</s>"]), 3, 3, 2_000_000).to_list()
    [[167652, 420941, 1473420, 1529033, 867498], []]
    """
    words = tf.convert_to_tensor(words, tf.string)
    ngrams = character_ngrams(words, min_n, max_n)
    not_end = tf.repeat(words != END_OF_SENTENCE, ngrams.row_lengths())
    ngrams = tf.ragged.boolean_mask(ngrams, ngrams.with_flat_values(not_end))
    hashes = fasttext_hash(ngrams.flat_values)
    return ngrams.with_flat_values(hashes % buckets)


def word_pieces(words, min_n, max_n, buckets, chunk=16384):
    """Each vocabulary word's pieces: its own row, then its n-grams' rows (V + bucket).

    ``words`` [V]: the vocabulary, word i on row i. Returns a RaggedTensor [V, None]
    of int64 rows, fastText's ``getSubwords`` of a vocabulary word. Computed
    ``chunk`` words at a time (the n-grams' bytes take ~100 times the words').

    Example:

    >>> word_pieces(["ab", "b"], 3, 3, 10).to_list()
    [[0, 10, 8], [1, 5]]
    """
    words = tf.convert_to_tensor(words, tf.string)
    vocab_size = int(tf.size(words))
    parts = []
    for start in range(0, vocab_size, chunk):
        part = words[start:start + chunk]
        own_rows = tf.range(start, start + tf.size(part, out_type=tf.int64))[:, None]
        ngram_rows = ngram_buckets(part, min_n, max_n, buckets) + vocab_size
        parts.append(tf.concat([tf.RaggedTensor.from_tensor(own_rows), ngram_rows], axis=1))
    return tf.concat(parts, axis=0)


def mean_rows(matrix, pieces):
    """The mean of each word's rows ``pieces`` (a RaggedTensor [N, None]) of ``matrix``: [N, d].

    A word without pieces gets zeros (fastText's vector of a word with no n-gram).

    Example:

    >>> matrix = tf.constant([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0]])
    >>> mean_rows(matrix, tf.ragged.constant([[0, 1], [2], []], tf.int64)).numpy().tolist()
    [[2.0, 1.0], [0.0, 4.0], [0.0, 0.0]]
    """
    return tf.math.unsorted_segment_mean(rows(matrix, pieces.flat_values), pieces.value_rowids(),
                                         pieces.nrows())


def unseen_word_vectors(words, ngram_matrix, min_n, max_n):
    """(vectors [N, d], has_ngrams [N]) of words not in the vocabulary: the mean of their
    n-grams' rows of ``ngram_matrix`` [buckets, d] (zeros for a word without n-grams).

    Example:

    >>> vectors, has_ngrams = unseen_word_vectors(tf.constant(["abc", ""]), tf.ones([10, 2]),
    ...                                           3, 3)
    >>> vectors.numpy().tolist(), has_ngrams.numpy().tolist()
    ([[1.0, 1.0], [0.0, 0.0]], [True, False])
    """
    buckets = ngram_buckets(words, min_n, max_n, tf.shape(ngram_matrix, out_type=tf.int64)[0])
    return mean_rows(ngram_matrix, buckets), buckets.row_lengths() > 0


def vocabulary_vectors(matrix, word_pieces, chunk=8192):
    """Every vocabulary word's vector [V, d] from the whole matrix [V + buckets, d]:
    ``chunk`` words at a time (bounding the gathered rows held at once)."""
    return tf.concat([mean_rows(matrix, word_pieces[start:start + chunk])
                      for start in range(0, int(word_pieces.nrows()), chunk)], axis=0)
