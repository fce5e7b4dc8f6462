"""Chief to workers: the chief task's values on every task of a MultiWorkerMirroredStrategy.

A broadcast is an all-reduce sum to which only the chief contributes (the other
tasks pass zeros of the same shapes): TensorFlow's collectives offer no broadcast
that runs under ``strategy.run``.
"""

import weakref

import numpy as np
import tensorflow as tf


_ALL_SUMS = weakref.WeakKeyDictionary()  # strategy → its all-sum tf.function


def broadcast_from_chief(strategy, values):
    """The chief's tensors ``values`` on every task (the others pass zeros of the same shapes).

    One tf.function per strategy, reused by later calls (the loop's decision to
    back up, made after every execution, is one).
    """
    if strategy not in _ALL_SUMS:

        @tf.function
        def all_sum(value):
            # A copy placed on this replica's device: an argument passed through as is
            # has none, and all_reduce needs one.
            return tf.distribute.get_replica_context().all_reduce("sum", tf.identity(value))

        _ALL_SUMS[strategy] = all_sum
    return [strategy.experimental_local_results(
        strategy.run(_ALL_SUMS[strategy], args=(value,)))[0] for value in values]


def broadcast_bytes(strategy, payload):
    """The chief's bytes on every task (the others pass b"")."""
    size, = broadcast_from_chief(strategy, [tf.constant(len(payload), tf.int64)])
    data = np.zeros(int(size), np.int32)
    data[:len(payload)] = np.frombuffer(payload, np.uint8)
    received, = broadcast_from_chief(strategy, [tf.constant(data)])
    return received.numpy().astype(np.uint8).tobytes()
