"""The tf.distribute strategies, each knowing how this process takes part in training.

``--strategy`` (``TrainConfig.strategy``) picks one; :func:`connect` makes this
process's strategy object (once per process), after checking TF_CONFIG
(sg_keras.cluster). Every object answers the same questions, so that
sg_keras.training.train reads the same whatever the strategy:

* ``join(config)``: checks what this task needs; a server task serves here;
* ``share_vocabulary(count)``: the vocabulary on every training task;
* ``output_dir(model_dir)``: where this task writes (a worker's copy goes to a
  temporary directory);
* ``scope()``: where to create the model;
* ``fit(...)``: how to train and resume (sg_keras.loops, sg_keras.backup).

The strategies:

* ``default``: TensorFlow's default strategy, one process;
* ``mirrored``: ``MirroredStrategy``, synchronous data parallelism over this machine's
  devices;
* ``multi_worker``: ``MultiWorkerMirroredStrategy``: every task holds the whole model
  and trains on its own shard of the corpus; gradients are summed by all-reduce;
* ``parameter_server``: ``ParameterServerStrategy``: the embedding and output matrices
  are split row-wise across the ``ps`` tasks, ``worker`` tasks train on their shards
  asynchronously, the ``chief`` coordinates.

All four train with the loops of sg_keras.loops, which keep model.fit's schedule
and callbacks: model.fit itself resumes only at an epoch's start, and Keras 3 runs
it under neither cluster strategy (TF 2.21 / Keras 3.15: under
MultiWorkerMirroredStrategy it fails before the first step, keras-team/keras#20585;
ParameterServerStrategy needs per-worker datasets).
"""

import contextlib
import dataclasses
import gc
import json
import os
import shutil
import signal
import tempfile

import numpy as np
import tensorflow as tf
from absl import logging

from sg_keras import cluster as cluster_lib
from sg_keras import corpus as corpus_lib
from sg_keras import loops
from sg_keras.broadcast import broadcast_bytes
from sg_keras.errors import UsageError
from sg_keras.vocab import CorpusCounts, Vocabulary

_CONNECTED = {}  # strategy name → this process's Strategy


def connect(name):
    """This process's Strategy for ``name``, TF_CONFIG checked first (UsageError).

    Creates the tf.distribute strategy once per process: MultiWorkerMirroredStrategy
    waits for every task of the cluster to start, and must be created before
    TensorFlow's runtime starts (before the first TF op; listing physical devices
    is fine). The parameter-server coordinator connects when the model is made.

    Example:

    >>> strategy = connect("default")
    >>> strategy.is_chief, strategy.workers
    (True, 1)
    """
    cluster = cluster_lib.parse_tf_config(os.environ.get("TF_CONFIG"))
    cluster_lib.check_cluster(name, cluster)
    if name not in _CONNECTED:
        if name == "default":
            _CONNECTED[name] = LocalStrategy(name, cluster, None)
        elif name == "mirrored":
            _CONNECTED[name] = LocalStrategy(name, cluster, tf.distribute.MirroredStrategy())
        elif name == "multi_worker":
            _CONNECTED[name] = MultiWorkerStrategy(name, cluster)
        elif cluster.is_chief:
            _CONNECTED[name] = ParameterServerChief(name, cluster)
        else:
            _CONNECTED[name] = ParameterServerTask(name, cluster)
    return _CONNECTED[name]


@dataclasses.dataclass
class Strategy:
    """How this process takes part in training: a strategy and, in a cluster, a task."""

    name: str
    cluster: cluster_lib.ClusterSpec = None

    # Keras' train function runs whole executions only: an epoch is then rounded to them.
    whole_executions = False
    # What kind of backup it writes and resumes (backup.KINDS).
    backup_kind = "cluster"

    @property
    def is_chief(self):
        """Whether this process writes model_dir (the chief of a cluster)."""
        return self.cluster is None or self.cluster.is_chief

    @property
    def workers(self):
        """How many tasks train, each on its own shard of the corpus."""
        return 1

    def join(self, config):
        """Checks what this task needs before anything is counted or written."""
        corpus_lib.check_corpus_files(config.corpus)

    def share_vocabulary(self, count):
        """(Vocabulary, CorpusCounts) on this task: ``count()`` run where it must be."""
        return count()

    @contextlib.contextmanager
    def output_dir(self, model_dir):
        """Yields the directory this task writes model_dir's files into."""
        yield model_dir

    def scope(self):
        """The scope in which to create the model."""
        return contextlib.nullcontext()

    def fit(self, model, training_pairs, schedule, callbacks, backup, verbose):
        """Trains ``model`` on ``training_pairs`` (training.TrainingPairs) for ``schedule``,
        backing up into and resuming from ``backup`` (sg_keras.backup.Backup); returns
        (History, model)."""
        raise NotImplementedError


@dataclasses.dataclass
class LocalStrategy(Strategy):
    """``default`` and ``mirrored``: one process, Keras' train function (loops.LocalLoop)."""

    strategy: tf.distribute.Strategy = None  # None: TensorFlow's default strategy

    whole_executions = True
    backup_kind = "local"

    def scope(self):
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def fit(self, model, training_pairs, schedule, callbacks, backup, verbose):
        return loops.LocalLoop(self, model, training_pairs, schedule).run(
            callbacks, backup, verbose)


@dataclasses.dataclass
class MultiWorkerStrategy(Strategy):
    """``multi_worker``: every task trains synchronously; the chief counts and writes."""

    strategy: tf.distribute.Strategy = None

    def __post_init__(self):
        logging.info("%s %d: joining the multi_worker cluster", self.cluster.task_type,
                     self.cluster.task_index)
        self.strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver())

    @property
    def workers(self):
        return self.cluster.size

    def join(self, config):
        super().join(config)
        if config.batch_size < self.workers:
            raise UsageError(f"--batch_size={config.batch_size} is smaller than the "
                             f"{self.workers} workers that share each batch")

    def share_vocabulary(self, count):
        """The chief counts and sends the vocabulary and counts to the other tasks."""
        payload = b""
        if self.is_chief:
            vocab, counts = count()
            payload = json.dumps({"words": vocab.words, "counts": vocab.counts.tolist(),
                                  "corpus": dataclasses.asdict(counts)}).encode("utf-8")
        shared = json.loads(broadcast_bytes(self.strategy, payload).decode("utf-8"))
        return (Vocabulary(shared["words"], np.array(shared["counts"], np.int64)),
                CorpusCounts(**shared["corpus"]))

    @contextlib.contextmanager
    def output_dir(self, model_dir):
        """The chief writes model_dir; the others write copies into a temporary directory."""
        if self.is_chief:
            yield model_dir
            return
        copy = tempfile.mkdtemp(prefix="sg_keras-worker-")
        try:
            yield copy
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    def scope(self):
        return self.strategy.scope()

    def fit(self, model, training_pairs, schedule, callbacks, backup, verbose):
        model.gradient_rows_per_pair = True  # all-gathered sparse gradients: equal lengths
        return loops.MultiWorkerLoop(self, model, training_pairs, schedule).run(
            callbacks, backup, verbose)


@dataclasses.dataclass
class ParameterServerChief(Strategy):
    """``parameter_server``'s chief: counts, coordinates the workers, writes model_dir."""

    strategy: tf.distribute.Strategy = None  # created when the model is made

    @property
    def workers(self):
        return len(self.cluster.jobs["worker"])

    def scope(self):
        if self.strategy is None:
            # Release the TF functions made so far (the counting pass): released once
            # the chief has joined the cluster, each would be removed from every
            # remote task, which never had it (an error logged per function and task).
            gc.collect()
            self.strategy = tf.distribute.ParameterServerStrategy(
                tf.distribute.cluster_resolver.TFConfigClusterResolver(),
                variable_partitioner=matrix_partitioner(len(self.cluster.jobs["ps"])))
        return self.strategy.scope()

    def fit(self, model, training_pairs, schedule, callbacks, backup, verbose):
        return loops.ParameterServerLoop(self, model, training_pairs, schedule).run(
            callbacks, backup, verbose)


@dataclasses.dataclass
class ParameterServerTask(Strategy):
    """A ``ps`` or ``worker`` task of a parameter-server cluster: serves until stopped."""

    def join(self, config):
        """Runs this task's TensorFlow server; never returns (the process is stopped)."""
        if self.cluster.task_type == "worker":  # workers read the corpus, ps tasks do not
            super().join(config)
        logging.info("%s %d of a parameter-server cluster: serving until stopped",
                     self.cluster.task_type, self.cluster.task_index)
        # The server blocks in C++, where Python's signal handlers never run: SIGTERM and
        # Ctrl-C stop this task as they stop any process.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        server = tf.distribute.Server(tf.train.ClusterSpec(self.cluster.jobs),
                                      job_name=self.cluster.task_type,
                                      task_index=self.cluster.task_index, protocol="grpc",
                                      start=True)
        server.join()


def matrix_partitioner(num_shards):
    """A ParameterServerStrategy partitioner: [V, d] matrices in ``num_shards`` row blocks.

    Only the embedding and output matrices are split; smaller variables (the noise
    distribution, step counter, seeds) stay whole on one parameter server.
    """
    fixed = tf.distribute.experimental.partitioners.FixedShardsPartitioner(num_shards)

    def partition(shape, dtype):
        return fixed(shape, dtype) if shape.rank == 2 else [1] * shape.rank

    return partition
