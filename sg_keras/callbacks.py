"""Keras callbacks used while training."""

import os
import time

import keras

from sg_keras import evaluation


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


class WordVectorEvaluation(keras.callbacks.Callback):
    """Evaluates the word vectors at the end of each epoch, adding the figures to the logs.

    Logs ``analogy_<file stem>`` (accuracy) and ``spearman_<file stem>`` for
    each file, so they appear in the History, the progress bar and (with the
    TensorBoard callback after this one) TensorBoard. ``words`` (the
    vocabulary, in model row order) must be set before training starts.
    """

    def __init__(self, analogy_files=(), similarity_files=(), restrict_vocab=30000, words=None):
        super().__init__()
        self.words = words
        self.analogy_files = list(analogy_files)
        self.similarity_files = list(similarity_files)
        self.restrict_vocab = restrict_vocab
        for path in self.analogy_files:  # fail before training, not after an epoch
            evaluation.read_analogies(path)
        for path in self.similarity_files:
            evaluation.read_word_pairs(path)

    def on_epoch_end(self, epoch, logs=None):
        vectors = evaluation.WordVectors(self.words, self.model.word_vectors())
        results = evaluation.evaluate(vectors, self.analogy_files, self.similarity_files,
                                      self.restrict_vocab)
        if logs is None:
            return
        for path, figures in results["analogy"].items():
            logs[f"analogy_{_stem(path)}"] = figures["accuracy"]
        for path, figures in results["similarity"].items():
            logs[f"spearman_{_stem(path)}"] = figures["spearman"]


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]
