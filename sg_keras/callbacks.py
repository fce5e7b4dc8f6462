"""Keras callbacks used while training."""

import math
import os
import re
import time

import keras
import numpy as np
import tensorflow as tf

from sg_keras import evaluation, neighbours, projector, text
from sg_keras.errors import UsageError
from sg_keras.word_vectors import WordVectors


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
        self._first = None  # the epoch's first step run here (not 0 in a resumed epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self._first is None:
            self._first = batch

    def _add(self, batches, logs):
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        words = batches * self.batch_size / self.pairs_per_word
        logs["words_per_sec"] = words / elapsed
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            self._batches = batch + 1 - self._first
            self._add(self._batches, logs)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            self._add(self._batches, logs)


class LatestWeights(keras.callbacks.Callback):
    """Saves the weights after each epoch to ``path`` (a ``.weights.h5`` file), atomically:
    written beside it under a temporary name, then renamed (Keras' ModelCheckpoint
    writes in place, so a kill could leave half a file)."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        directory, name = os.path.split(self.path)
        os.makedirs(directory, exist_ok=True)
        partial = os.path.join(directory, ".tmp-" + name)
        self.model.save_weights(partial)
        os.replace(partial, self.path)


class StopOnDivergence(keras.callbacks.Callback):
    """Ends training with a UsageError once the loss or the word vectors are not finite.

    Like keras.callbacks.TerminateOnNaN, but the run fails (one line, exit 2)
    instead of saving a model of NaNs. The loss is checked once per execution;
    the word vectors at each epoch's end (a saturated loss can stay finite while
    they overflow), before the callbacks after this one save or read them.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            _diverged(f"the loss is {loss} after step {batch + 1} of epoch {self._epoch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        check_finite_vectors(self.model, f"after epoch {epoch + 1}")


def check_finite_vectors(model, when):
    """Raises StopOnDivergence's UsageError if ``model``'s word vectors are not all finite."""
    if not np.isfinite(model.word_vectors()).all():
        _diverged(f"the word vectors are not finite {when}")


def _diverged(what):
    raise UsageError(f"training diverged: {what}; try a smaller --learning_rate")


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
        results = evaluation.evaluate(WordVectors(self.words, self.model.word_vectors()),
                                      self.analogy_files, self.similarity_files,
                                      self.restrict_vocab)
        if logs is None:
            return
        for path, figures in results["analogy"].items():
            logs[f"analogy_{_stem(path)}"] = figures["accuracy"]
        for path, figures in results["similarity"].items():
            logs[f"spearman_{_stem(path)}"] = figures["spearman"]


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


PROBE_WORDS = 5  # default probe words: this many frequent words ...
PROBE_SKIP = 20  # ... after the most frequent ones (mostly function words)


def probe_word_ids(vocab, probe_words, tokenizer, phrases=None):
    """Row ids of the probe words, normalised like training text (``CAT`` finds ``cat``;
    ``New York`` finds ``new_york`` with its ``phrases``, a PhraseTable).

    Without probe words: the PROBE_WORDS words after the PROBE_SKIP most frequent
    (in a smaller vocabulary, its last PROBE_WORDS words). Raises UsageError for
    a word not in the vocabulary.
    """
    if not probe_words:
        start = max(0, min(PROBE_SKIP, len(vocab) - PROBE_WORDS))
        return list(range(start, min(start + PROBE_WORDS, len(vocab))))
    index = vocab.index()
    ids = []
    for word in probe_words:
        key = text.normalize_word(word, tokenizer, phrases)
        if key not in index:
            raise UsageError(f"probe word {word!r} is not in the vocabulary")
        ids.append(index[key])
    return ids


class NearestNeighbourSummary(keras.callbacks.Callback):
    """Writes the nearest neighbours of probe words to TensorBoard after each epoch.

    A text summary ``nearest_neighbours`` (step: the epoch, from 0 as Keras'
    epoch scalars) in ``log_dir``: a table of each probe word and its ``k``
    nearest words by cosine similarity. ``log_dir`` should be a run of its own,
    not one the TensorBoard callback writes to.
    """

    def __init__(self, log_dir, words, probe_ids, k=8):
        super().__init__()
        self.log_dir = log_dir
        self.words = words
        self.probe_ids = list(probe_ids)
        self.k = k
        self._writer = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        matrix = self.model.word_vectors_tensor()
        k = min(self.k, len(self.words) - 1)
        ids, scores = neighbours.nearest(matrix, neighbours.inverse_norms(matrix),
                                         tf.constant(self.probe_ids, tf.int32), k)
        rows = ["| word | nearest neighbours (cosine) |", "|---|---|"]
        for word_id, found, found_scores in zip(self.probe_ids, ids.numpy(), scores.numpy()):
            neighbours_text = ", ".join(f"{_markdown(self.words[i])} {score:.2f}"
                                        for i, score in zip(found, found_scores))
            rows.append(f"| {_markdown(self.words[word_id])} | {neighbours_text} |")
        with self._writer.as_default():
            tf.summary.text("nearest_neighbours", "\n".join(rows), step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        self._writer.close()


class EmbeddingProjector(keras.callbacks.Callback):
    """Writes the Embedding Projector files (sg_keras.projector) when training ends."""

    def __init__(self, run_dir, words, counts, top=None):
        super().__init__()
        self.run_dir = run_dir
        self.words = words
        self.counts = counts
        self.top = top

    def on_train_end(self, logs=None):
        projector.write(self.run_dir, self.words, self.counts,
                        self.model.word_vectors_tensor(), self.top)


def _markdown(word):
    """``word`` with Markdown's special characters backslash-escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", word)
