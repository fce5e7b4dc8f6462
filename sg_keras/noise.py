"""The noise distribution of the sampled objectives, and the one sampler that draws from it.

word2vec's noise distribution is the unigram distribution raised to the 3/4 power.
Words are drawn by inverse-CDF sampling: uniform numbers in [0, total), located in
the cumulative distribution by binary search, all in TF ops.
"""

import numpy as np
import tensorflow as tf

NOISE_POWER = 0.75


def distribution(counts):
    """word2vec's noise distribution: unigram counts raised to the 3/4 power, normalised.

    Example:

    >>> distribution([16, 1]).round(3).tolist()
    [0.889, 0.111]
    """
    weights = np.asarray(counts, np.float64) ** NOISE_POWER
    return weights / weights.sum()


def draw(cdf, uniform):
    """Word ids (int64) for ``uniform`` numbers in [0, cdf[-1]) (of any shape), by inverse CDF.

    Example:

    >>> draw(tf.constant([0.5, 1.0]), tf.constant([0.2, 0.7, 0.99])).numpy().tolist()
    [0, 1, 1]
    """
    ids = tf.searchsorted(cdf, tf.reshape(uniform, [-1]), side="right")
    ids = tf.cast(tf.minimum(ids, tf.size(cdf, out_type=ids.dtype) - 1), tf.int64)
    return tf.reshape(ids, tf.shape(uniform))


def probability(cdf, ids):
    """The noise probability of each word id: differences of the CDF."""
    return tf.gather(cdf, ids) - tf.gather(tf.pad(cdf, [[1, 0]]), ids)
