"""Keras callbacks used while training."""

import time

import keras


class TrainingSpeed(keras.callbacks.Callback):
    """Adds ``words_per_sec`` and ``learning_rate`` to the batch and epoch logs.

    Keras' progress bar shows them and the TensorBoard callback (placed after
    this one) writes them as scalars. Raw corpus words are counted as
    pairs trained / pairs per corpus word (the epoch's expected ratio), so the
    figure is comparable with gensim's and word2vec.c's words/s. Nothing here
    synchronises with the device beyond what Keras already does per execution.
    """

    def __init__(self, batch_size, pairs_per_word):
        super().__init__()
        self.batch_size = batch_size
        self.pairs_per_word = pairs_per_word

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def _add(self, batches, logs):
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        words = batches * self.batch_size / self.pairs_per_word
        logs["words_per_sec"] = words / elapsed
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            self._add(batch + 1, logs)
            self._batches = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            self._add(self._batches, logs)
