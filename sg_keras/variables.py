"""TensorFlow variable helpers: reading rows, reading without copies, sharded variables.

Two behaviours of TensorFlow's resource variables shape these helpers:

* Once sparse ops have updated a variable, TensorFlow copies it on every read
  (copy-on-read mode: [V, d] copied for a few rows' update); :func:`read_in_place`
  reads it as a dense variable is read, sharing its buffer.
* A variable split across parameter servers (a ShardedVariable) returns its rows
  out of order from ``tf.gather`` (TF 2.21); :func:`rows` uses
  ``tf.nn.embedding_lookup`` for it.
"""

import numpy as np
import tensorflow as tf

_SHARDED = tf.__internal__.distribute.ShardedVariable


def rows(weight, ids):
    """Rows ``ids`` of a [V, d] weight (a variable, sharded or not), without reading it whole."""
    if isinstance(weight, _SHARDED):
        return tf.nn.embedding_lookup(weight, ids)
    return tf.gather(weight, ids)


def dense_shape(matrix):
    """The shape of a [V, d] weight (sharded or not) as IndexedSlices' ``dense_shape``."""
    return tf.constant(matrix.shape.as_list(), tf.int64)


def shards(variable):
    """The variables a weight is split into (itself, when it is not sharded)."""
    if isinstance(variable, _SHARDED):
        return variable.variables
    return [variable]


def read_in_place(variable):
    """The value of a Keras variable; a sparsely updated one stops being copied on reads.

    Leaves the variable so for later reads until the next sparse update, which
    copies the buffer only if such a read is still alive (copy-on-write).
    """
    tf_variable = variable.value  # the tf.Variable of a Keras variable
    if hasattr(tf_variable, "read_value_no_copy"):
        return tf_variable.read_value_no_copy()
    return tf.convert_to_tensor(tf_variable)


class _Uncopied:
    """An array the Keras weights store writes to its file as it is: the store makes a
    copy of every value (``np.array(value)``) before h5py writes it; ``np.array`` asks
    for that copy through ``__array__(copy=True)``, which this answers with the array
    itself (h5py only reads it)."""

    def __init__(self, array):
        self.array = array
        self.shape, self.dtype = array.shape, array.dtype

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)


def save_in_place(variables, store):
    """Saves a layer's variables as Keras' save_own_variables does, without copies.

    Keras' own method reads each variable into a new array, which the store
    copies again (the hidden matrix with subwords is most of the process's memory);
    here the store writes a read-only view of the variable's buffer.
    """
    for index, variable in enumerate(variables):
        store[str(index)] = _Uncopied(np.asarray(read_in_place(variable)))


def sum_repeated_rows(indices, values):
    """(distinct indices in increasing order, the sum of ``values``' rows per index).

    Example:

    >>> indices, sums = sum_repeated_rows(tf.constant([4, 1, 4]),
    ...                                   tf.constant([[1.0], [2.0], [3.0]]))
    >>> indices.numpy().tolist(), sums.numpy().tolist()
    ([1, 4], [[2.0], [4.0]])
    """
    order = tf.argsort(indices, stable=True)
    sorted_indices = tf.gather(indices, order)
    starts = tf.concat([tf.ones([1], tf.bool), sorted_indices[1:] != sorted_indices[:-1]],
                       0)[:tf.size(indices)]
    sums = tf.math.segment_sum(tf.gather(values, order),
                               tf.cumsum(tf.cast(starts, tf.int64)) - 1)
    return tf.boolean_mask(sorted_indices, starts), sums


def subtract_rows(variable, update):
    """``variable[update.indices] -= update.values``, repeated indices summed.

    TensorFlow's ScatterSub kernel costs ~5 times its ScatterUpdate per row (a
    row-wise Eigen expression against a copy): the rows are summed per index
    (sum_repeated_rows; skipped when the indices are already distinct and
    increasing), gathered, and assigned back.
    """
    indices = tf.cast(update.indices, tf.int64)
    increasing = tf.reduce_all(indices[1:] > indices[:-1])
    unique, sums = tf.cond(increasing, lambda: (indices, update.values),
                           lambda: sum_repeated_rows(indices, update.values))
    variable.scatter_update(tf.IndexedSlices(rows(variable, unique) - sums, unique))
