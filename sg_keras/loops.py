"""The training loop of every strategy: model.fit's schedule, resumable at any step.

:class:`Loop` keeps model.fit's epoch schedule (executions of ``steps_per_execution``
steps, Keras callbacks, the History) and adds what model.fit cannot do: backups
inside epochs too (every ``backup_interval`` seconds, at an execution's end) and
a resumed run that starts at the step its backup was taken, on the batches the
interrupted run would have trained on next. Its subclasses run the steps:
:class:`LocalLoop` with Keras' own train function (default, mirrored),
:class:`MultiWorkerLoop` synchronously on every task, :class:`ParameterServerLoop`
asynchronously on the workers of a parameter-server cluster, with plain SGD on the
sharded matrices.
"""

import collections
import time

import keras
import tensorflow as tf
from absl import logging

from sg_keras import variables
from sg_keras.broadcast import broadcast_from_chief
from sg_keras.callbacks import check_finite_vectors


def _executions(steps_per_epoch, steps_per_execution):
    """(first, last) step of each execution of an epoch, numbered as model.fit does."""
    return [(first, min(first + steps_per_execution, steps_per_epoch) - 1)
            for first in range(0, steps_per_epoch, steps_per_execution)]


def _replicas_per_pipeline(context):
    """Batches of one input pipeline that a step takes: one per replica it feeds."""
    return context.num_replicas_in_sync // context.num_input_pipelines


class Loop:
    """The epoch schedule of model.fit, callbacks and resumable backups included.

    A subclass runs the steps: ``start()`` before the backup is restored,
    ``open_input(steps_done)`` to make the pair stream from the first batch not yet
    trained on, ``epoch(executions, callbacks)`` → the epoch's logs (calling
    ``backup_if_due()`` after each execution), ``pull()`` to bring the trained state
    into ``self.local`` (the model that callbacks, backups and saving see) and
    ``push()`` to send the state to train from (restored or initial) back.

    Args:
      distribution: the sg_keras.strategies object.
      model: the compiled SkipGram, made in the strategy's scope.
      pairs: the run's training.TrainingPairs (the stream of batches, or its shards).
      schedule: the run's training.Schedule: epochs, steps, the global batch size and
        the seconds between backups inside an epoch (0: at epochs' ends only).
    """

    def __init__(self, distribution, model, pairs, schedule):
        self.distribution = distribution
        self.model = model
        self.local = model
        self.pairs = pairs
        self.schedule = schedule
        self.batch_size = schedule.batch_size
        self.backup_interval = schedule.backup_interval
        self._backup = None
        self._last_backup = 0.0

    def run(self, callbacks, backup, verbose):
        """Trains for the schedule like model.fit; returns (History, model).

        The state is saved in ``backup`` (sg_keras.backup.Backup) after each epoch and
        every ``backup_interval`` seconds; training resumes from the newest one, at its
        step. The returned model is an ordinary one (parameter_server: a copy of the
        sharded weights).
        """
        schedule = self.schedule
        epochs, steps_per_epoch = schedule.epochs, schedule.steps_per_epoch
        self.start()
        self.pull()
        backup.restore(self.local)
        self.push()
        # The step to go on from, the chief's under multi_worker (pushed to every task).
        steps_done = int(self.local.optimizer.iterations.numpy())
        if steps_done < epochs * steps_per_epoch:
            self.open_input(steps_done)
        self._backup, self._last_backup = backup, time.monotonic()
        callback_list = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=bool(verbose), model=self.local,
            verbose=verbose, epochs=epochs, steps=steps_per_epoch)
        history = next(c for c in callback_list.callbacks
                       if isinstance(c, keras.callbacks.History))
        executions = _executions(steps_per_epoch, schedule.steps_per_execution)
        first_epoch, first_step = divmod(steps_done, steps_per_epoch)
        # (A backup is taken at an execution's end; parameter_server's step count can run
        # ahead of it, by the steps of an execution retried after a worker was lost.)
        first_step -= first_step % schedule.steps_per_execution
        self.local.stop_training = False
        callback_list.on_train_begin()
        logs = None
        for number in range(first_epoch, epochs):
            callback_list.on_epoch_begin(number)
            start = first_step if number == first_epoch else 0
            logs = self.epoch([e for e in executions if e[0] >= start], callback_list)
            self.pull()
            callback_list.on_epoch_end(number, logs)
            self._save()
            logging.info("epoch %d/%d: loss %.4f, %.0f words/s", number + 1, epochs,
                         logs["loss"], history.history.get("words_per_sec", [0.0])[-1])
            if self.local.stop_training:
                break
        callback_list.on_train_end(logs)
        return history, self.local

    def backup_if_due(self):
        """Backs up now if ``backup_interval`` seconds have passed since the last backup."""
        if self.backup_due():
            self.pull()
            self._save_inside_epoch()

    def _save_inside_epoch(self):
        # An epoch's end checks the vectors (StopOnDivergence) before its backup; inside
        # one only the loss is checked, so the vectors are checked here.
        check_finite_vectors(self.local,
                             f"at step {int(self.local.optimizer.iterations.numpy())}")
        self._save()

    def backup_due(self):
        return bool(self.backup_interval) and (
            time.monotonic() - self._last_backup >= self.backup_interval)

    def _save(self):
        self._backup.save()
        self._last_backup = time.monotonic()

    def start(self):
        pass

    def open_input(self, steps_done):
        raise NotImplementedError

    def epoch(self, executions, callbacks):
        raise NotImplementedError

    def push(self):
        pass

    def pull(self):
        pass


class LocalLoop(Loop):
    """One process (``default``, ``mirrored``): Keras' train function, as model.fit runs it.

    Each call of ``model.train_function`` runs one execution of
    ``steps_per_execution`` steps on the iterator, the same function model.fit calls.
    """

    def open_input(self, steps_done):
        strategy = self.distribution.strategy
        if strategy is None:
            dataset = self.pairs.dataset(self.batch_size, steps_done)
        else:
            # Made per replica: a dataset handed to tf.distribute as such is rebatched,
            # and this pipeline's batches (``rebatch`` of blocks of pairs) would come out
            # as whole blocks, far larger than the batch size.
            dataset = strategy.distribute_datasets_from_function(
                lambda context: self.pairs.dataset(
                    context.get_per_replica_batch_size(self.batch_size),
                    steps_done * _replicas_per_pipeline(context)))
        self.iterator = iter(dataset)
        self.model.make_train_function()

    def epoch(self, executions, callbacks):
        self.model.reset_metrics()
        for first, last in executions:
            callbacks.on_train_batch_begin(first)
            logs = self.model.train_function(self.iterator)
            callbacks.on_train_batch_end(last, logs)
            if self.local.stop_training:
                break
            if last != executions[-1][1]:  # (the epoch's end backs up anyway)
                self.backup_if_due()
        return {name: float(value) for name, value in self.model.get_metrics_result().items()}


class MultiWorkerLoop(Loop):
    """Synchronous steps on every task: the model's train_step under strategy.run.

    The optimizer all-reduces (sums) each step's gradients across the tasks, sparse
    IndexedSlices by gathering them; the epoch's loss is averaged across tasks.
    """

    def start(self):
        strategy, model = self.distribution.strategy, self.model

        @tf.function
        def run_steps(iterator, steps):
            for _ in tf.range(steps - 1):
                strategy.run(model.train_step, args=(next(iterator),))
            logs = strategy.run(model.train_step, args=(next(iterator),))
            return strategy.reduce("MEAN", logs["loss"], axis=None)

        self.run_steps = run_steps

    def open_input(self, steps_done):
        """Every task's shard, from its batch ``steps_done`` on (one batch per task a step)."""
        strategy = self.distribution.strategy

        def shard(context):
            return self.pairs.shard(context.num_input_pipelines, context.input_pipeline_id,
                                    self.batch_size // strategy.num_replicas_in_sync,
                                    steps_done * _replicas_per_pipeline(context))

        self.iterator = iter(strategy.distribute_datasets_from_function(shard))

    def push(self):
        """Gives every task the chief's (possibly restored) weights, step and noise state."""
        variables = [*self.model.trainable_variables, self.model.optimizer.iterations,
                     self.model.random_state]
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
            if last != executions[-1][1]:  # (the epoch's end backs up anyway)
                self.backup_if_due()
        return {"loss": loss}

    def backup_due(self):
        """The chief's clock decides, for every task: a backup's save is collective."""
        if not self.backup_interval:  # (the same on every task)
            return False
        due = tf.constant(super().backup_due() and self.distribution.is_chief, tf.int32)
        return bool(broadcast_from_chief(self.distribution.strategy, [due])[0])


class ParameterServerLoop(Loop):
    """Asynchronous steps scheduled on the workers by a ClusterCoordinator.

    Each step computes the model's objective and gradients (its own negative-sampling
    gradients, or a GradientTape over the shards for the other losses) and applies
    plain SGD at the optimizer's learning rate through the ShardedVariable API
    (``scatter_sub`` for sparse gradients): Keras optimizers do not update
    ShardedVariables. At most two executions per worker are in flight, so the batch
    callbacks follow the training closely; a lost worker's executions are retried
    on the others. ``self.local`` holds a copy of the weights in this process,
    refreshed after each epoch and for each backup.
    """

    def start(self):
        strategy, model = self.distribution.strategy, self.model
        self.coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
        workers = self.distribution.workers

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
        self.local.compile(optimizer=model.optimizer.from_config(model.optimizer.get_config()))
        self.local.optimizer.build(self.local.trainable_variables)
        shards = variables.shards(model.embedding.embeddings.value)
        logging.info("parameter_server: %d workers; the embedding is split in %d shards: %s",
                     workers, len(shards), ", ".join(
                         f"{tuple(s.shape)} on {s.device}" for s in shards))

    def open_input(self, steps_done):
        """Each worker's shard, from its start: asynchronous workers take batches at their
        own pace, so where each one's shard stood is not known (a resumed run trains on
        other batches than the interrupted one would have)."""
        strategy, workers = self.distribution.strategy, self.distribution.workers

        def shard(context):
            index = tf.distribute.coordinator.experimental_get_current_worker_index()
            return self.pairs.shard(workers, index, self.batch_size)

        @tf.function
        def per_worker_dataset():
            return strategy.distribute_datasets_from_function(shard)

        self.iterator = iter(self.coordinator.create_per_worker_dataset(per_worker_dataset))

    def push(self):
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
            if last != executions[-1][1] and self.backup_due():  # once the scheduled
                # executions have finished
                self.coordinator.join()
                while pending:
                    finish_oldest()
                self.pull()
                self._save_inside_epoch()
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
    embedding, output = model.matrices
    losses, (embedding_grad, output_grad) = model.losses_and_gradients(
        centre, context, noise_seed=seed)
    updates = [(embedding, embedding_grad)]
    if isinstance(output_grad, list):  # one gradient per shard
        updates.extend(zip(variables.shards(output), output_grad, strict=True))
    else:
        updates.append((output, output_grad))
    rate = model.optimizer.learning_rate
    for variable, gradient in updates:
        if isinstance(gradient, tf.IndexedSlices):
            variable.scatter_sub(tf.IndexedSlices(gradient.values * rate, gradient.indices,
                                                  gradient.dense_shape))
        else:
            variable.assign_sub(gradient * rate)
    model.optimizer.iterations.value.assign_add(1)
    return tf.reduce_sum(losses), tf.size(losses)
