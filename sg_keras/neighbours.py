"""Nearest neighbours by cosine similarity: the one implementation, in TensorFlow ops.

The CLI's ``similar``, TensorBoard's neighbour tables, the evaluation's analogies
and the serving export's ``nearest`` and ``analogy`` signatures all score words with
these functions. Rows are scored against queries with one [N, d] × [d, V] matrix
product; the word matrix is never copied to unit length (it may be most of the
process's memory): its rows' inverse norms scale the scores instead.
"""

import tensorflow as tf


def inverse_norms(vectors):
    """1 / the Euclidean length of each row [V] (0 for a zero row, which then scores 0).

    Example:

    >>> [round(float(x), 3) for x in inverse_norms(tf.constant([[3.0, 4.0], [0.0, 0.0]]))]
    [0.2, 0.0]
    """
    vectors = tf.convert_to_tensor(vectors, tf.float32)
    return tf.math.divide_no_nan(1.0, tf.norm(vectors, axis=1))


def unit_rows(vectors, inverse_norms, ids):
    """Rows ``ids`` [N] of ``vectors``, scaled to unit length: [N, d]."""
    return tf.gather(vectors, ids) * tf.gather(inverse_norms, ids)[:, None]


def cosines(vectors, inverse_norms, queries):
    """Cosine similarity of each query [N, d] of unit length with every row: [N, V].

    ``inverse_norms``: of ``vectors``, or None when its rows are of unit length.
    (A query that is not of unit length scales its row of scores, as 3CosAdd's
    b - a + c does.)
    """
    scores = tf.matmul(queries, vectors, transpose_b=True)
    return scores if inverse_norms is None else scores * inverse_norms


def exclude(scores, columns):
    """``scores`` [N, V] with the ``columns`` [N, m] of each row set to -inf."""
    columns = tf.cast(columns, tf.int64)
    rows = tf.broadcast_to(tf.range(tf.shape(columns, out_type=tf.int64)[0])[:, None],
                           tf.shape(columns, out_type=tf.int64))
    return tf.tensor_scatter_nd_update(scores, tf.stack([rows, columns], axis=-1),
                                       tf.fill(tf.shape(columns), float("-inf")))


def nearest(vectors, inverse_norms, ids, k):
    """The ``k`` rows most cosine-similar to each of rows ``ids`` [N], themselves excluded.

    Returns (row ids [N, k] int32, scores [N, k]), best first; ties in row order.

    Example:

    >>> vectors = tf.constant([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> ids, scores = nearest(vectors, inverse_norms(vectors), tf.constant([0]), k=2)
    >>> ids.numpy().tolist()
    [[1, 2]]
    """
    ids = tf.convert_to_tensor(ids)
    scores = cosines(vectors, inverse_norms, unit_rows(vectors, inverse_norms, ids))
    best = tf.math.top_k(exclude(scores, ids[:, None]), k)
    return best.indices, best.values
