"""Scale-out on tf.distribute: strategies, the cluster in TF_CONFIG, and the cluster loops.

``--strategy`` (``TrainConfig.strategy``):

* ``default``: TensorFlow's default strategy, one process (``model.fit``).
* ``mirrored``: ``MirroredStrategy``, synchronous data parallelism over this machine's
  devices (``model.fit``; one replica on a machine without accelerators).
* ``multi_worker``: ``MultiWorkerMirroredStrategy``: every ``chief``/``worker`` task of
  the cluster holds the whole model and trains on its own shard of the corpus; each
  step's gradients are summed across the tasks by all-reduce (synchronous). The chief
  (or worker 0 when the cluster has no chief) writes model_dir.
* ``parameter_server``: ``ParameterServerStrategy``: the embedding and output matrices
  are split row-wise across the ``ps`` tasks, the ``worker`` tasks train on their
  shards of the corpus and update the shards asynchronously, and the ``chief``
  coordinates (``ClusterCoordinator``) and writes model_dir. A worker lost during
  training is tolerated: its pending steps run on the others.

The cluster is described by the standard ``TF_CONFIG`` environment variable and every
task runs the same ``sg-keras train`` command. Keras 3's ``model.fit`` runs under
neither cluster strategy with TF 2.21 / Keras 3.15 (under MultiWorkerMirroredStrategy
it fails before the first step, keras-team/keras#20585; ParameterServerStrategy needs
per-worker datasets), so :meth:`Distribution.fit` trains with loops of its own that run
the model's train step (multi_worker) or its objective and gradients with a sharded SGD
update (parameter_server), and drive the same Keras callbacks as ``model.fit``.
"""

import collections
import contextlib
import dataclasses
import gc
import json
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from sg_keras import text
from sg_keras.errors import UsageError
from sg_keras.vocab import CorpusCounts, Vocabulary

STRATEGIES = ("default", "mirrored", "multi_worker", "parameter_server")
FIT_STRATEGIES = ("default", "mirrored")  # trained with model.fit, in one process
CLUSTER_JOBS = {"multi_worker": ("chief", "worker"),
                "parameter_server": ("chief", "worker", "ps")}

# The cluster reader cuts a line longer than text.MAX_SENTENCE_CHARS into sentences of
# this many words (gensim's limit), and groups sentences in blocks of about
# BLOCK_WORDS words (about text.BLOCK_CHARS of English, the local reader's blocks).
MAX_SENTENCE_WORDS = 10_000
BLOCK_WORDS = 50_000


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """A validated TF_CONFIG: the addresses of each job, and this process's task."""

    jobs: dict  # job name → ["host:port", …]
    task_type: str
    task_index: int

    @property
    def size(self):
        return sum(len(addresses) for addresses in self.jobs.values())

    @property
    def is_chief(self):
        """TensorFlow's rule: the chief task, or worker 0 when the cluster has no chief."""
        if "chief" in self.jobs:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0


def parse_tf_config(value):
    """The ClusterSpec of a TF_CONFIG value, None if it is unset; UsageError if malformed."""
    if not value or not value.strip():
        return None
    try:
        config = json.loads(value)
    except json.JSONDecodeError as error:
        raise UsageError(f"TF_CONFIG is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise UsageError('TF_CONFIG must be a JSON object with "cluster" and "task"')
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise UsageError('TF_CONFIG needs "cluster": {JOB: ["host:port", …], …}')
    jobs = {}
    for job, addresses in cluster.items():
        if job not in ("chief", "worker", "ps"):
            raise UsageError(f"TF_CONFIG: unsupported job {job!r} (jobs are chief, worker, ps)")
        if not isinstance(addresses, list) or not addresses:
            raise UsageError(f'TF_CONFIG: job {job!r} must list its tasks\' "host:port" addresses')
        for address in addresses:
            _check_address(job, address)
        jobs[job] = list(addresses)
    everywhere = [address for addresses in jobs.values() for address in addresses]
    repeated = sorted({a for a in everywhere if everywhere.count(a) > 1})
    if repeated:
        raise UsageError(f"TF_CONFIG: address {repeated[0]} is given to more than one task")
    if not isinstance(task, dict):
        raise UsageError('TF_CONFIG needs "task": {"type": JOB, "index": N}')
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in jobs:
        raise UsageError(f"TF_CONFIG: task type {task_type!r} is not a job of the cluster "
                         f"({', '.join(jobs)})")
    if isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(jobs[task_type]):
        raise UsageError(f"TF_CONFIG: task index {index!r} is out of range for job "
                         f"{task_type!r} of {len(jobs[task_type])} task(s)")
    return ClusterSpec(jobs, task_type, index)


def _check_address(job, address):
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"TF_CONFIG: job {job!r} has an address {address!r} that is not "
                         "host:port")


def check_cluster(strategy, cluster):
    """Raises UsageError unless the cluster (None: no TF_CONFIG) suits the strategy."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if strategy in FIT_STRATEGIES:
        if cluster is not None and cluster.size > 1:
            raise UsageError(
                f"--strategy={strategy} trains in one process, but TF_CONFIG describes a "
                f"cluster of {cluster.size} tasks: use --strategy=multi_worker or "
                "--strategy=parameter_server, or unset TF_CONFIG")
        return
    if cluster is None:
        raise UsageError(f"--strategy={strategy} needs the cluster in the TF_CONFIG "
                         "environment variable (README: Scaling out)")
    allowed = CLUSTER_JOBS[strategy]
    others = [job for job in cluster.jobs if job not in allowed]
    if others:
        raise UsageError(f"--strategy={strategy} runs {' and '.join(allowed)} tasks, but "
                         f"TF_CONFIG has {', '.join(others)} tasks (ps tasks are for "
                         "--strategy=parameter_server)")
    chiefs = len(cluster.jobs.get("chief", ()))
    if chiefs > 1:
        raise UsageError(f"TF_CONFIG has {chiefs} chief tasks; a cluster has at most one")
    if strategy == "parameter_server":
        for job in allowed:
            if job not in cluster.jobs:
                raise UsageError(f"--strategy=parameter_server needs a chief, workers and "
                                 f"parameter servers; TF_CONFIG has no {job} task")


_CONNECTED = {}  # strategy name → this process's Distribution


def connect(strategy):
    """This process's Distribution for ``strategy``, TF_CONFIG checked first (UsageError).

    Creates the tf.distribute strategy, once per process: MultiWorkerMirroredStrategy
    waits for every task of the cluster to start, and must be created before
    TensorFlow's runtime starts (before the first TF op; listing physical devices is
    fine). The parameter-server coordinator connects when training starts.
    """
    cluster = parse_tf_config(os.environ.get("TF_CONFIG"))
    check_cluster(strategy, cluster)
    if strategy not in _CONNECTED:
        if strategy == "mirrored":
            created = tf.distribute.MirroredStrategy()
        elif strategy == "multi_worker":
            logging.info("%s %d: joining the multi_worker cluster", cluster.task_type,
                         cluster.task_index)
            created = tf.distribute.MultiWorkerMirroredStrategy(
                cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver())
        else:
            created = None
        _CONNECTED[strategy] = Distribution(strategy, created, cluster)
    return _CONNECTED[strategy]


@dataclasses.dataclass
class Distribution:
    """How this process takes part in training: a strategy and, in a cluster, a task."""

    name: str
    strategy: object = None  # tf.distribute.Strategy; None: the default one, or created later
    cluster: ClusterSpec = None

    @property
    def is_chief(self):
        """Whether this process trains and writes model_dir (the chief of a cluster)."""
        return self.cluster is None or self.cluster.is_chief

    @property
    def serves(self):
        """Whether this is a ps or worker task of a parameter-server cluster."""
        return self.name == "parameter_server" and not self.is_chief

    @property
    def reads_corpus(self):
        """Whether this task reads the corpus (all but parameter servers)."""
        return self.cluster is None or self.cluster.task_type != "ps"

    @property
    def workers(self):
        """How many tasks train, each on its own shard of the corpus."""
        if self.name == "multi_worker":
            return self.cluster.size
        if self.name == "parameter_server":
            return len(self.cluster.jobs["worker"])
        return 1

    def scope(self):
        """The scope in which to create the model (parameter_server: connects the chief)."""
        if self.strategy is None and self.name == "parameter_server":
            # Release the TF functions made so far (the counting pass): released once
            # the chief has joined the cluster, each would be removed from every
            # remote task, which never had it (an error logged per function and task).
            gc.collect()
            self.strategy = tf.distribute.ParameterServerStrategy(
                tf.distribute.cluster_resolver.TFConfigClusterResolver(),
                variable_partitioner=matrix_partitioner(len(self.cluster.jobs["ps"])))
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def fit_input(self, dataset_fn, batch_size):
        """model.fit's input: ``dataset_fn(replica_batch_size)``, global batch ``batch_size``.

        Under MirroredStrategy the dataset is made through
        ``distribute_datasets_from_function``: a dataset handed to model.fit as such is
        rebatched by tf.distribute, and this pipeline's batches (``rebatch`` of blocks
        of pairs) then come out as whole blocks, far larger than the batch size.
        """
        if self.strategy is None:
            return dataset_fn(batch_size)
        return self.strategy.distribute_datasets_from_function(
            lambda context: dataset_fn(context.get_per_replica_batch_size(batch_size)))

    def serve(self):
        """Runs this ps or worker task's TensorFlow server until the process is stopped."""
        logging.info("%s %d of a parameter-server cluster: serving until stopped",
                     self.cluster.task_type, self.cluster.task_index)
        server = tf.distribute.Server(tf.train.ClusterSpec(self.cluster.jobs),
                                      job_name=self.cluster.task_type,
                                      task_index=self.cluster.task_index, protocol="grpc",
                                      start=True)
        server.join()

    def share_vocabulary(self, vocab, counts):
        """The chief's vocabulary and corpus counts, on every training task.

        Under multi_worker the chief counts and sends them to the other tasks (which
        pass None); elsewhere only the chief trains and they are returned as given.
        """
        if self.name != "multi_worker":
            return vocab, counts
        payload = b""
        if self.is_chief:
            payload = json.dumps({"words": vocab.words, "counts": vocab.counts.tolist(),
                                  "corpus": dataclasses.asdict(counts)}).encode("utf-8")
        shared = json.loads(_broadcast_bytes(self.strategy, payload).decode("utf-8"))
        return (Vocabulary(shared["words"], np.array(shared["counts"], np.int64)),
                CorpusCounts(**shared["corpus"]))

    def fit(self, model, input_fn, batch_size, epochs, steps_per_epoch, steps_per_execution,
            callbacks, backup_dir, verbose):
        """Trains ``model`` like model.fit under a cluster strategy; returns (History, model).

        ``input_fn(num_shards, shard_index, batch_size)`` makes one worker's endless
        dataset of (centre, context) batches; ``batch_size`` is the global batch.
        ``callbacks`` are Keras callbacks (as for model.fit). The model's state after
        each epoch is checkpointed in ``backup_dir`` and training resumes from it;
        the directory is removed when training ends. The returned model is an
        ordinary one (parameter_server: a copy of the sharded weights in this process).
        """
        if self.name == "multi_worker":
            loop = _MultiWorkerLoop(self, model, input_fn, batch_size)
        else:
            loop = _ParameterServerLoop(self, model, input_fn, batch_size)
        return loop.run(epochs, steps_per_epoch, steps_per_execution, callbacks, backup_dir,
                        verbose)


def matrix_partitioner(num_shards):
    """A ParameterServerStrategy partitioner: [V, d] matrices in ``num_shards`` row blocks.

    Only the embedding and output matrices are split; smaller variables (the noise
    distribution, step counter, seeds) stay whole on one parameter server.
    """
    fixed = tf.distribute.experimental.partitioners.FixedShardsPartitioner(num_shards)

    def partition(shape, dtype):
        return fixed(shape, dtype) if shape.rank == 2 else [1] * shape.rank

    return partition


def sentences_per_block(counts):
    """Sentences per block of the cluster reader, for blocks of about BLOCK_WORDS words."""
    return max(1, round(BLOCK_WORDS * counts.sentences / max(counts.tokens, 1)))


class ShardedCorpus:
    """One worker's shard of the corpus, read with TensorFlow ops alone.

    With at least as many files as shards, each worker reads whole files (files
    ``index``, ``index + num_shards``, …); otherwise each reads every file and keeps
    every ``num_shards``-th sentence. No two shards share a sentence, so no two
    workers train on the same text. Plain TF ops run on remote workers too (unlike text.Corpus,
    whose Python generator runs only in the process that made it). Lines are
    sentences; a line longer than text.MAX_SENTENCE_CHARS is cut into sentences of
    MAX_SENTENCE_WORDS words. ``index`` may be a tensor (a parameter-server worker's
    index is only known where it runs).
    """

    def __init__(self, paths, num_shards, index, sentences_per_block):
        self.paths = list(paths)
        self.num_shards = num_shards
        self.index = index
        self.sentences_per_block = sentences_per_block

    @property
    def by_file(self):
        return len(self.paths) >= self.num_shards

    def dataset(self):
        """A tf.data.Dataset of 1-D string tensors, one per block of sentences (valid UTF-8)."""
        files = tf.data.Dataset.from_tensor_slices(
            (self.paths, [_compression(path) for path in self.paths]))
        if self.by_file:
            files = files.shard(self.num_shards, self.index)
        lines = files.flat_map(tf.data.TextLineDataset)
        sentences = lines.batch(256).map(_cut_long_lines).unbatch()
        if not self.by_file:
            sentences = sentences.shard(self.num_shards, self.index)
        return sentences.batch(self.sentences_per_block).map(text.replace_invalid_utf8)


def _compression(path):
    with open(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def _cut_long_lines(lines):
    """The sentences of a batch of lines: long lines cut every MAX_SENTENCE_WORDS words."""

    def cut():
        words = tf.strings.split(lines)
        pieces = (words.row_lengths() + MAX_SENTENCE_WORDS - 1) // MAX_SENTENCE_WORDS
        line = words.value_rowids()
        position = tf.range(tf.size(line, out_type=tf.int64)) - tf.gather(words.row_starts(), line)
        piece = tf.gather(tf.cumsum(pieces, exclusive=True), line) + position // MAX_SENTENCE_WORDS
        sentences = tf.RaggedTensor.from_value_rowids(words.flat_values, piece,
                                                      nrows=tf.reduce_sum(pieces))
        return tf.strings.reduce_join(sentences, axis=1, separator=" ")

    too_long = tf.reduce_any(tf.strings.length(lines) > text.MAX_SENTENCE_CHARS)
    return tf.cond(too_long, cut, lambda: lines)


def _broadcast_from_chief(strategy, values):
    """The chief's ``values`` on every task (the others pass zeros of the same shapes)."""

    @tf.function
    def all_sum(value):
        # A copy placed on this replica's device: an argument passed through as is
        # has none, and all_reduce needs one.
        return tf.distribute.get_replica_context().all_reduce("sum", tf.identity(value))

    return [strategy.experimental_local_results(strategy.run(all_sum, args=(value,)))[0]
            for value in values]


def _broadcast_bytes(strategy, payload):
    """The chief's bytes on every task (the others pass b"")."""
    size, = _broadcast_from_chief(strategy, [tf.constant(len(payload), tf.int64)])
    data = np.zeros(int(size), np.int32)
    data[:len(payload)] = np.frombuffer(payload, np.uint8)
    received, = _broadcast_from_chief(strategy, [tf.constant(data)])
    return received.numpy().astype(np.uint8).tobytes()


def _executions(steps_per_epoch, steps_per_execution):
    """(first, last) step of each execution of an epoch, numbered as model.fit does."""
    return [(first, min(first + steps_per_execution, steps_per_epoch) - 1)
            for first in range(0, steps_per_epoch, steps_per_execution)]


class _Loop:
    """The epoch schedule of model.fit, callbacks and resumable backups included.

    A subclass runs the steps: ``start()`` before the first epoch, ``epoch(executions,
    callbacks)`` → the epoch's logs, ``pull()`` to bring the trained state into
    ``self.local`` (the model that callbacks, checkpoints and saving see) and
    ``push(epoch)`` to send the state to train from (restored or initial) back.
    """

    def __init__(self, distribution, model, input_fn, batch_size):
        self.distribution = distribution
        self.model = model
        self.local = model
        self.input_fn = input_fn
        self.batch_size = batch_size

    def run(self, epochs, steps_per_epoch, steps_per_execution, callbacks, backup_dir, verbose):
        self.start()
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        checkpoint = tf.train.Checkpoint(model=self.local, optimizer=self.local.optimizer,
                                         epoch=epoch)
        backups = tf.train.CheckpointManager(checkpoint, backup_dir, max_to_keep=1)
        self.pull()
        if backups.latest_checkpoint:
            checkpoint.restore(backups.latest_checkpoint).assert_existing_objects_matched()
            logging.info("resuming after epoch %d from %s", int(epoch.numpy()), backup_dir)
        self.push(epoch)
        callback_list = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=bool(verbose), model=self.local,
            verbose=verbose, epochs=epochs, steps=steps_per_epoch)
        history = next(c for c in callback_list.callbacks
                       if isinstance(c, keras.callbacks.History))
        executions = _executions(steps_per_epoch, steps_per_execution)
        self.local.stop_training = False
        callback_list.on_train_begin()
        logs = None
        for number in range(int(epoch.numpy()), epochs):
            callback_list.on_epoch_begin(number)
            logs = self.epoch(executions, callback_list)
            self.pull()
            callback_list.on_epoch_end(number, logs)
            epoch.assign(number + 1)
            backups.save()
            logging.info("epoch %d/%d: loss %.4f, %.0f words/s", number + 1, epochs,
                         logs["loss"], history.history.get("words_per_sec", [0.0])[-1])
            if self.local.stop_training:
                break
        callback_list.on_train_end(logs)
        shutil.rmtree(backup_dir, ignore_errors=True)
        return history, self.local

    def start(self):
        pass

    def push(self, epoch):
        pass

    def pull(self):
        pass


class _MultiWorkerLoop(_Loop):
    """Synchronous steps on every task: the model's train_step under strategy.run.

    The optimizer all-reduces (sums) each step's gradients across the tasks, sparse
    IndexedSlices by gathering them; the epoch's loss is averaged across tasks.
    """

    def start(self):
        strategy, model = self.distribution.strategy, self.model

        def shard(context):
            return self.input_fn(context.num_input_pipelines, context.input_pipeline_id,
                                 self.batch_size // strategy.num_replicas_in_sync)

        self.iterator = iter(strategy.distribute_datasets_from_function(shard))

        @tf.function
        def run_steps(iterator, steps):
            for _ in tf.range(steps - 1):
                strategy.run(model.train_step, args=(next(iterator),))
            logs = strategy.run(model.train_step, args=(next(iterator),))
            return strategy.reduce("MEAN", logs["loss"], axis=None)

        self.run_steps = run_steps

    def push(self, epoch):
        """Gives every task the chief's (possibly restored) weights, step and epoch."""
        variables = [*self.model.trainable_variables, self.model.optimizer.iterations, epoch]
        values = [tf.convert_to_tensor(v) if self.distribution.is_chief
                  else tf.zeros(v.shape, v.dtype) for v in variables]
        for variable, value in zip(variables, _broadcast_from_chief(
                self.distribution.strategy, values)):
            variable.assign(value)

    def epoch(self, executions, callbacks):
        self.model.reset_metrics()
        loss = 0.0
        for first, last in executions:
            callbacks.on_train_batch_begin(first)
            loss = float(self.run_steps(self.iterator, tf.constant(last - first + 1)))
            callbacks.on_train_batch_end(last, {"loss": loss})
            if self.local.stop_training:
                break
        return {"loss": loss}


class _ParameterServerLoop(_Loop):
    """Asynchronous steps scheduled on the workers by a ClusterCoordinator.

    Each step computes the model's objective and gradients (its own negative-sampling
    gradients, or a GradientTape over the shards for the other losses) and applies
    plain SGD at the optimizer's learning rate through the ShardedVariable API
    (``scatter_sub`` for sparse gradients): Keras optimizers do not update
    ShardedVariables. At most two executions per worker are in flight, so the batch
    callbacks follow the training closely; a lost worker's executions are retried
    on the others. ``self.local`` holds a copy of the weights in this process,
    refreshed after each epoch.
    """

    def start(self):
        strategy, model = self.distribution.strategy, self.model
        self.coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
        workers = self.distribution.workers

        def shard(context):
            index = tf.distribute.coordinator.experimental_get_current_worker_index()
            return self.input_fn(workers, index, self.batch_size)

        @tf.function
        def per_worker_dataset():
            return strategy.distribute_datasets_from_function(shard)

        self.iterator = iter(self.coordinator.create_per_worker_dataset(per_worker_dataset))

        @tf.function
        def run_steps(iterator, steps):
            loss_sum, pairs = tf.constant(0.0), tf.constant(0)
            for _ in tf.range(steps):
                step_sum, step_pairs = strategy.run(lambda data: _sharded_sgd_step(model, data),
                                                    args=(next(iterator),))
                loss_sum, pairs = loss_sum + step_sum, pairs + step_pairs
            return loss_sum, pairs

        self.run_steps = run_steps
        self.local = keras.models.clone_model(model)
        self.local.compile(optimizer=keras.optimizers.SGD.from_config(model.optimizer.get_config()))
        self.local.optimizer.build(self.local.trainable_variables)
        shards = _shards(model.embedding.embeddings.value)
        logging.info("parameter_server: %d workers; the embedding is split in %d shards: %s",
                     workers, len(shards), ", ".join(
                         f"{tuple(s.shape)} on {s.device}" for s in shards))

    def push(self, epoch):
        """Sends the local (possibly restored) weights and step to the parameter servers."""
        for remote, local in self._pairs():
            remote.assign(local.value)

    def pull(self):
        """Copies the sharded weights and step into the local model."""
        for remote, local in self._pairs():
            local.assign(tf.convert_to_tensor(remote))

    def _pairs(self):
        remote = [*self.model.weights, self.model.optimizer.iterations]
        local = [*self.local.weights, self.local.optimizer.iterations]
        return [(r.value, l) for r, l in zip(remote, local, strict=True)]

    def epoch(self, executions, callbacks):
        pending = collections.deque()
        totals = [0.0, 0]

        def finish_oldest():
            first, last, result = pending.popleft()
            loss_sum, pairs = result.fetch()
            totals[0] += float(loss_sum)
            totals[1] += int(pairs)
            self.local.optimizer.iterations.assign(self.model.optimizer.iterations.value)
            callbacks.on_train_batch_begin(first)
            callbacks.on_train_batch_end(last, {"loss": totals[0] / max(totals[1], 1)})

        for first, last in executions:
            steps = tf.constant(last - first + 1)
            pending.append((first, last, self.coordinator.schedule(
                self.run_steps, args=(self.iterator, steps))))
            if len(pending) > 2 * self.distribution.workers:
                finish_oldest()
            if self.local.stop_training:
                break
        self.coordinator.join()
        while pending:
            finish_oldest()
        return {"loss": totals[0] / max(totals[1], 1)}


def _sharded_sgd_step(model, data):
    """One SGD step on sharded weights; returns (sum of the pairs' losses, pairs)."""
    centre, context = data
    # The noise words of a step: drawn from (step, worker), as one seed generator shared
    # by workers updating asynchronously would give two workers the same words.
    worker = tf.distribute.coordinator.experimental_get_current_worker_index()
    seed = tf.stack([tf.cast(model.optimizer.iterations, tf.int64), tf.cast(worker, tf.int64)])
    matrices = [model.embedding.embeddings.value, model.context_softmax.kernel.value]
    if model.loss_name == "negative":
        losses, gradients = model.negative_sampling(centre, context, noise_seed=seed)
        updates = zip(matrices, gradients)
    else:
        shards = [shard for matrix in matrices for shard in _shards(matrix)]
        with tf.GradientTape() as tape:
            losses = model.pair_losses(centre, context, noise_seed=seed)
            total = tf.reduce_sum(losses)
        updates = zip(shards, tape.gradient(total, shards))
    rate = model.optimizer.learning_rate
    for variable, gradient in updates:
        if isinstance(gradient, tf.IndexedSlices):
            variable.scatter_sub(tf.IndexedSlices(gradient.values * rate, gradient.indices,
                                                  gradient.dense_shape))
        else:
            variable.assign_sub(gradient * rate)
    model.optimizer.iterations.value.assign_add(1)
    return tf.reduce_sum(losses), tf.size(losses)


def _shards(variable):
    """The variables a weight is split into (itself, with a single parameter server)."""
    if isinstance(variable, tf.__internal__.distribute.ShardedVariable):
        return variable.variables
    return [variable]


def temporary_model_dir():
    """A temporary directory for a non-chief task's copies of model_dir's files."""
    return tempfile.mkdtemp(prefix="sg_keras-worker-")
