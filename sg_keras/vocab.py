"""Vocabulary: counted in one streaming pass over the corpus, saved as ``vocab.tsv`` (word, count)."""

import dataclasses

import numpy as np
import tensorflow as tf

from sg_keras import process, text
from sg_keras.errors import UsageError
from sg_keras.io_utils import atomic_write_text

MIN_WORDS = 2  # a vocabulary of one word has nothing to predict


@dataclasses.dataclass
class CorpusCounts:
    """What the counting pass saw, before min_count / max_vocab_size."""

    tokens: int
    sentences: int  # sentences with at least one token
    invalid_utf8: int


@dataclasses.dataclass
class Vocabulary:
    """Words by descending count, ties in order of first occurrence; row i is words[i].

    Example:

    >>> vocab = Vocabulary.from_counts(["fox", "the", "dog"], [1, 2, 1], min_count=1)
    >>> vocab.words, vocab.counts.tolist()
    (['the', 'fox', 'dog'], [2, 1, 1])
    >>> vocab.index()["dog"]
    2
    """

    words: list
    counts: np.ndarray

    def __len__(self):
        return len(self.words)

    @property
    def total(self):
        """Number of corpus tokens that are in the vocabulary."""
        return int(self.counts.sum())

    @classmethod
    def from_counts(cls, words, counts, min_count, max_vocab_size=0, first_seen=None,
                    min_words=MIN_WORDS):
        """The vocabulary of counted words: those seen at least ``min_count`` times,
        by descending count, ties by ``first_seen`` (any sortable keys; default: the
        order of ``words``), at most the ``max_vocab_size`` first (0: all).

        Raises UsageError when fewer than ``min_words`` words are left.
        """
        order = range(len(words)) if first_seen is None else first_seen
        kept = sorted((-count, first, word) for word, count, first in zip(words, counts, order)
                      if count >= min_count)
        if max_vocab_size:
            kept = kept[:max_vocab_size]
        if len(kept) < min_words:
            raise UsageError(f"fewer than {min_words} distinct words occur at least "
                             f"min_count={min_count} times")
        return cls([word for _, _, word in kept],
                   np.array([-negated for negated, _, _ in kept], np.int64))

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

    def to_tsv(self):
        """``word<TAB>count`` lines, the content of ``vocab.tsv``."""
        return "".join(f"{w}\t{c}\n" for w, c in zip(self.words, self.counts))

    def save(self, path):
        atomic_write_text(path, self.to_tsv())

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


def count_words(corpus, tokenizer, phrases=None):
    """Counts every token of a corpus in a streaming pass, all in-graph.

    Blocks are tokenised (and their phrases joined: sg_keras.phrases) and counted
    in parallel; the block counts are added into a hash table word → (count, rank
    of first occurrence) by one ``tf.function`` loop over the dataset, with no
    Python per block or word, and work per block in proportion to the block,
    however many words came before.
    Returns (words, counts, CorpusCounts): every distinct word (str) in order of
    first occurrence, and its count.
    """
    def block_keys(sentences):
        words = text.tokenize(sentences, tokenizer, valid_utf8=True)
        if phrases is not None:
            words = phrases.join(words)
        return words.flat_values, tf.size(words.flat_values, out_type=tf.int64), \
            tf.math.count_nonzero(words.row_lengths())

    keys, counts, first_seen, tokens, sentences = count_keys(corpus, block_keys)
    order = np.argsort(first_seen)
    return ([key.decode("utf-8") for key in keys[order].tolist()], counts[order],
            CorpusCounts(tokens, sentences, corpus.invalid_utf8))


def count_keys(corpus, block_keys):
    """Counts the string keys that ``block_keys`` makes of each block, in one pass.

    ``block_keys(sentences)`` → (keys [n], tokens, sentences) of a block, in-graph;
    the two numbers are summed over the corpus. Returns (keys, counts, rank of
    first occurrence) as numpy arrays in no particular order, then the two sums.
    """
    counted = _count_in_table(corpus, block_keys)
    process.release_freed_memory()  # the table's, freed on _count_in_table's return
    return counted


def _count_in_table(corpus, block_keys):
    def block_counts(sentences):
        keys, tokens, block_sentences = block_keys(sentences)
        unique, _, counts = tf.unique_with_counts(keys, out_idx=tf.int64)
        return unique, counts, tokens, block_sentences

    table = tf.lookup.experimental.MutableHashTable(
        tf.string, tf.int64, default_value=tf.constant([0, -1], tf.int64),
        # Anonymous: freed on return. A named table stays in TF's resource manager
        # until the process ends.
        experimental_is_anonymous=True)
    dataset = corpus.dataset().map(
        block_counts, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    @tf.function
    def count_blocks():
        tokens = sentences = distinct = tf.constant(0, tf.int64)
        for unique, counts, block_tokens, block_sentences in dataset.prefetch(tf.data.AUTOTUNE):
            seen = table.lookup(unique)  # `unique` is in first-occurrence order
            new = tf.cast(seen[:, 1] < 0, tf.int64)
            first = tf.where(new > 0, distinct + tf.cumsum(new, exclusive=True), seen[:, 1])
            table.insert(unique, tf.stack([seen[:, 0] + counts, first], axis=1))
            distinct += tf.reduce_sum(new)
            tokens += block_tokens
            sentences += block_sentences
        return tokens, sentences

    tokens, sentences = count_blocks()
    keys, values = table.export()
    keys, values = keys.numpy(), values.numpy()
    return keys, values[:, 0], values[:, 1], int(tokens), int(sentences)


def count_vocabulary(corpus, tokenizer, min_count, max_vocab_size=0, phrases=None):
    """(Vocabulary, CorpusCounts) of a corpus: count_words, then Vocabulary.from_counts.

    ``phrases``: a sg_keras.phrases.PhraseTable whose phrases are joined into words.

    Example:

    >>> import os, tempfile
    >>> from sg_keras.corpus import Corpus
    >>> path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("the fox and the dog\\n")
    >>> vocab, counts = count_vocabulary(Corpus([path]), "whitespace", min_count=1)
    >>> vocab.words, counts.tokens
    (['the', 'fox', 'and', 'dog'], 5)
    """
    try:
        words, word_counts, counts = count_words(corpus, tokenizer, phrases)
    except tf.errors.OpError:
        corpus.check_read()
        raise
    if counts.tokens == 0:
        raise UsageError(f"the corpus has no words: {', '.join(corpus.paths)}")
    return Vocabulary.from_counts(words, word_counts, min_count, max_vocab_size), counts
