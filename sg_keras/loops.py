"""The training loops of the cluster strategies, which Keras' model.fit cannot run.

:class:`Loop` keeps model.fit's epoch schedule (executions of ``steps_per_execution``
steps, Keras callbacks, the History) and backs the state up after each epoch; its
subclasses run the steps: :class:`MultiWorkerLoop` synchronously on every task,
:class:`ParameterServerLoop` asynchronously on the workers of a parameter-server
cluster, with plain SGD on the sharded matrices.
"""

import collections

import keras
import tensorflow as tf
from absl import logging

from sg_keras import variables
from sg_keras.broadcast import broadcast_from_chief


def _executions(steps_per_epoch, steps_per_execution):
    """(first, last) step of each execution of an epoch, numbered as model.fit does."""
    return [(first, min(first + steps_per_execution, steps_per_epoch) - 1)
            for first in range(0, steps_per_epoch, steps_per_execution)]


class Loop:
    """The epoch schedule of model.fit, callbacks and resumable backups included.

    A subclass runs the steps: ``start()`` before the first epoch, ``epoch(executions,
    callbacks)`` → the epoch's logs, ``pull()`` to bring the trained state into
    ``self.local`` (the model that callbacks, checkpoints and saving see) and
    ``push(epoch)`` to send the state to train from (restored or initial) back.
    """

    def __init__(self, distribution, model, input_fn, batch_size):
        """``distribution``: the sg_keras.strategies object; ``input_fn(num_shards,
        shard_index, batch_size)`` makes one worker's endless dataset of
        (centre, context) batches; ``batch_size`` is the global batch."""
        self.distribution = distribution
        self.model = model
        self.local = model
        self.input_fn = input_fn
        self.batch_size = batch_size

    def run(self, schedule, callbacks, backup, verbose):
        """Trains for ``schedule`` (training.Schedule) like model.fit; returns (History, model).

        The state after each epoch is saved in ``backup`` (sg_keras.backup.Backup) and
        training resumes from it. The returned model is an ordinary one
        (parameter_server: a copy of the sharded weights).
        """
        epochs, steps_per_epoch = schedule.epochs, schedule.steps_per_epoch
        self.start()
        self.pull()
        backup.restore(self.local)
        epoch = backup.epochs_done
        self.push(epoch)
        callback_list = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=bool(verbose), model=self.local,
            verbose=verbose, epochs=epochs, steps=steps_per_epoch)
        history = next(c for c in callback_list.callbacks
                       if isinstance(c, keras.callbacks.History))
        executions = _executions(steps_per_epoch, schedule.steps_per_execution)
        self.local.stop_training = False
        callback_list.on_train_begin()
        logs = None
        for number in range(int(epoch.numpy()), epochs):
            callback_list.on_epoch_begin(number)
            logs = self.epoch(executions, callback_list)
            self.pull()
            callback_list.on_epoch_end(number, logs)
            backup.save(number + 1)
            logging.info("epoch %d/%d: loss %.4f, %.0f words/s", number + 1, epochs,
                         logs["loss"], history.history.get("words_per_sec", [0.0])[-1])
            if self.local.stop_training:
                break
        callback_list.on_train_end(logs)
        return history, self.local

    def start(self):
        pass

    def push(self, epoch):
        pass

    def pull(self):
        pass


class MultiWorkerLoop(Loop):
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
        for variable, value in zip(variables, broadcast_from_chief(
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


class ParameterServerLoop(Loop):
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
        shards = variables.shards(model.embedding.embeddings.value)
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
    matrices = model.matrices
    if model.loss_name == "negative":
        losses, gradients = model.losses_and_gradients(centre, context, noise_seed=seed)
        updates = zip(matrices, gradients)
    else:
        shards = [shard for matrix in matrices for shard in variables.shards(matrix)]
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
