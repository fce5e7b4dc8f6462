"""Vocabulary: counted in one streaming pass, saved as ``vocab.tsv`` (word, count)."""

import collections
import ctypes
import dataclasses
import gc
import os

import numpy as np
import tensorflow as tf

from sg_keras import text
from sg_keras.errors import UsageError
from sg_keras.io_utils import atomic_write_text

VOCAB_FILE = "vocab.tsv"


@dataclasses.dataclass
class CorpusCounts:
    """What the counting pass saw, before min_count / max_vocab_size."""

    tokens: int
    sentences: int  # sentences with at least one token
    invalid_utf8: int


@dataclasses.dataclass
class Vocabulary:
    """Words by descending count; ties keep the order of first occurrence (as gensim)."""

    words: list
    counts: np.ndarray

    def __len__(self):
        return len(self.words)

    @property
    def total(self):
        """Number of corpus tokens that are in the vocabulary."""
        return int(self.counts.sum())

    def index(self):
        """A dict word → id."""
        return {word: i for i, word in enumerate(self.words)}

    def lookup_table(self):
        """A tf.lookup table word → id, -1 for out-of-vocabulary words.

        Named, unlike the counting table: under ParameterServerStrategy the
        workers' input pipelines initialise it through the coordinator's handle,
        which fails for an anonymous table ("Resource Anonymous/… does not exist").
        """
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.words, tf.string),
            tf.range(len(self.words), dtype=tf.int64))
        return tf.lookup.StaticHashTable(initializer, default_value=-1)

    def save(self, path):
        atomic_write_text(
            path, "".join(f"{w}\t{c}\n" for w, c in zip(self.words, self.counts)))

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                rows = [line.rstrip("\n").split("\t") for line in f]
            return cls([w for w, _ in rows], np.array([int(c) for _, c in rows], np.int64))
        except FileNotFoundError:
            raise UsageError(f"vocabulary not found: {path}") from None
        except ValueError:
            raise UsageError(f"malformed vocabulary file: {path}") from None


def count_words(corpus, tokenizer):
    """Counts every token of a text.Corpus in a streaming pass, all in-graph.

    Blocks are tokenised and counted in parallel; the block counts are added
    into a hash table word → (count, rank of first occurrence) by one
    ``tf.function`` loop over the dataset, with no Python per block or word,
    and work per block in proportion to the block, however many words came before.
    Returns (Counter word → count in first-occurrence order, CorpusCounts).
    """
    words, values, tokens, sentences = _count_in_table(corpus, tokenizer)
    release_freed_memory()  # the table's
    order = np.argsort(values[:, 1])
    counter = collections.Counter(dict(zip(words[order].tolist(), values[order, 0].tolist())))
    return counter, CorpusCounts(tokens, sentences, corpus.invalid_utf8)


def _count_in_table(corpus, tokenizer):
    """(words, [count, first-occurrence rank] per word, tokens, sentences) of count_words."""

    def block_counts(sentences):
        words = text.tokenize(sentences, tokenizer, valid_utf8=True)
        unique, _, counts = tf.unique_with_counts(words.flat_values, out_idx=tf.int64)
        return unique, counts, tf.math.count_nonzero(words.row_lengths())

    table = tf.lookup.experimental.MutableHashTable(
        tf.string, tf.int64, default_value=tf.constant([0, -1], tf.int64),
        # Anonymous: freed on return. A named table stays in TF's resource manager
        # until the process ends (benchmarks/RESULTS.md).
        experimental_is_anonymous=True)
    dataset = corpus.dataset().map(
        block_counts, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    @tf.function
    def count_blocks():
        tokens = sentences = distinct = tf.constant(0, tf.int64)
        for unique, counts, block_sentences in dataset.prefetch(tf.data.AUTOTUNE):
            seen = table.lookup(unique)  # `unique` is in first-occurrence order
            new = tf.cast(seen[:, 1] < 0, tf.int64)
            first = tf.where(new > 0, distinct + tf.cumsum(new, exclusive=True), seen[:, 1])
            table.insert(unique, tf.stack([seen[:, 0] + counts, first], axis=1))
            distinct += tf.reduce_sum(new)
            tokens += tf.reduce_sum(counts)
            sentences += block_sentences
        return tokens, sentences

    tokens, sentences = count_blocks()
    words, values = table.export()
    return words.numpy(), values.numpy(), int(tokens), int(sentences)


def release_freed_memory():
    """Frees unreachable objects and returns the C heap's free memory to the system.

    A counting table is freed only by the cycle collector (its tf.function holds
    it), into the malloc arena of the thread that filled it, which later work, in
    other threads, barely reuses. Returned (glibc's malloc_trim; elsewhere nothing
    is returned), it lowers a training run's peak memory by about 20 MiB
    (benchmarks/RESULTS.md).
    """
    gc.collect()
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc
        return
    malloc_trim(0)


def build_vocabulary(counter, min_count, max_vocab_size=None):
    """Keeps words seen at least min_count times, at most max_vocab_size most frequent."""
    kept = [(w, c) for w, c in counter.items() if c >= min_count]
    kept.sort(key=lambda item: -item[1])  # stable: ties stay in first-occurrence order
    if max_vocab_size:
        kept = kept[:max_vocab_size]
    if len(kept) < 2:
        raise UsageError(
            f"fewer than 2 distinct words occur at least min_count={min_count} times")
    return Vocabulary([w.decode("utf-8") for w, _ in kept],
                      np.array([c for _, c in kept], np.int64))


def vocab_path(model_dir):
    return os.path.join(model_dir, VOCAB_FILE)
