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
    # Counting with a bounded table (max_vocab_size) dropped words counted at most this
    # many times so far, word2vec.c's way, whenever the table grew past its bound: their
    # counts are approximate below it. 0: every count is exact.
    pruned_below: int = 0
    # The corpus's count of each vocabulary word, where the vocabulary's counts include
    # another corpus's (continued training: sg_keras.warm_start); None: the vocabulary's.
    word_counts: list = None


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
        """The vocabulary of a ``vocab.tsv`` (``word<TAB>count`` lines, as ``save`` and
        pipelines/beam_vocab.py write them), in the file's order.

        UsageError naming the file and line for a line without one tab, an empty word, a
        count that is not a positive integer, a word given twice, or an empty file.
        """
        words, counts, line_of = [], [], {}
        try:
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    word, count = _vocabulary_row(path, number, line)
                    if word in line_of:
                        raise UsageError(f"{path} line {number}: {word!r} is also on line "
                                         f"{line_of[word]}: a vocabulary lists a word once")
                    line_of[word] = number
                    words.append(word)
                    counts.append(count)
        except FileNotFoundError:
            raise UsageError(f"vocabulary not found: {path}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{path} is not UTF-8 text: not a vocab.tsv") from None
        except IsADirectoryError:
            raise UsageError(f"{path} is a directory, not a vocab.tsv") from None
        if not words:
            raise UsageError(f"{path} is empty: a vocab.tsv has a word<TAB>count line per word")
        return cls(words, np.array(counts, np.int64))

    def filtered(self, min_count, max_vocab_size=0, min_words=MIN_WORDS):
        """The words seen at least ``min_count`` times, in this vocabulary's order, at most
        the ``max_vocab_size`` first (0: all); UsageError when fewer than ``min_words``
        are left.

        Example:

        >>> Vocabulary(["the", "fox", "dog"], np.array([5, 3, 1])).filtered(2).words
        ['the', 'fox']
        """
        kept = np.flatnonzero(self.counts >= min_count)
        if max_vocab_size:
            kept = kept[:max_vocab_size]
        if len(kept) < min_words:
            raise UsageError(f"fewer than {min_words} words of the vocabulary occur at least "
                             f"min_count={min_count} times")
        return Vocabulary([self.words[i] for i in kept], self.counts[kept])


def _vocabulary_row(path, number, line):
    """(word, count) of line ``number`` of a vocab.tsv; UsageError when malformed."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 2 or not fields[0]:
        raise UsageError(f"{path} line {number}: expected word<TAB>count, got {line.strip()[:60]!r}")
    word, count = fields
    if not (count.isascii() and count.isdigit() and int(count) > 0):
        raise UsageError(f"{path} line {number}: the count of {word!r} must be a positive "
                         f"integer, got {count[:30]!r}")
    return word, int(count)


# With max_vocab_size, the counting table holds at most this many times as many words,
# and at least TABLE_MIN_WORDS: beyond, it is pruned (count_keys).
TABLE_WORDS_PER_KEPT_WORD = 4
TABLE_MIN_WORDS = 2_000_000


def table_bound(max_vocab_size):
    """The most distinct words the counting table holds for ``max_vocab_size`` (0: no bound)."""
    if not max_vocab_size:
        return 0
    return max(TABLE_WORDS_PER_KEPT_WORD * max_vocab_size, TABLE_MIN_WORDS)


def count_words(corpus, tokenizer, phrases=None, max_words=0):
    """Counts every token of a corpus in a streaming pass, all in-graph.

    Blocks are tokenised (and their phrases joined: sg_keras.phrases) and counted
    in parallel; the block counts are added into a hash table word → (count, rank
    of first occurrence) by one ``tf.function`` loop over the dataset, with no
    Python per block or word, and work per block in proportion to the block,
    however many words came before. ``max_words`` (0: none) bounds the table
    (count_keys).
    Returns (words, counts, CorpusCounts): every distinct word (str) in order of
    first occurrence, and its count.
    """
    def block_keys(sentences):
        words = _block_words(sentences, tokenizer, phrases)
        return words.flat_values, *_block_sizes(words)

    keys, counts, first_seen, tokens, sentences, pruned_below = count_keys(
        corpus, block_keys, max_words)
    order = np.argsort(first_seen)
    return ([key.decode("utf-8") for key in keys[order].tolist()], counts[order],
            CorpusCounts(tokens, sentences, corpus.invalid_utf8, pruned_below))


def count_tokens(corpus, tokenizer, vocab, phrases=None):
    """(tokens that are words of ``vocab``, CorpusCounts) of a corpus, without counting its
    words (for a vocabulary given as a file): tokens and non-empty sentences summed over
    its blocks in one streaming pass that keeps nothing per word.
    """
    table = vocab.lookup_table()

    def block_sizes(sentences):
        words = _block_words(sentences, tokenizer, phrases)
        known = tf.math.count_nonzero(table.lookup(words.flat_values) >= 0)
        return (*_block_sizes(words), known)

    dataset = corpus.dataset().map(block_sizes, num_parallel_calls=tf.data.AUTOTUNE,
                                   deterministic=False)
    zero = tf.constant(0, tf.int64)
    tokens, sentences, known = dataset.reduce((zero, zero, zero), lambda total, block: tuple(
        a + b for a, b in zip(total, block)))
    return int(known), CorpusCounts(int(tokens), int(sentences), corpus.invalid_utf8)


def _block_words(sentences, tokenizer, phrases):
    """A block's tokens [sentences, (words)], its phrases joined."""
    words = text.tokenize(sentences, tokenizer, valid_utf8=True)
    return words if phrases is None else phrases.join(words)


def _block_sizes(words):
    """(tokens, sentences with a token) of a block's words."""
    return tf.size(words.flat_values, out_type=tf.int64), tf.math.count_nonzero(words.row_lengths())


def count_keys(corpus, block_keys, max_keys=0):
    """Counts the string keys that ``block_keys`` makes of each block, in one pass.

    ``block_keys(sentences)`` → (keys [n], tokens, sentences) of a block, in-graph;
    the two numbers are summed over the corpus. Returns (keys, counts, rank of
    first occurrence) as numpy arrays in no particular order, then the two sums and
    the pruning bound.

    ``max_keys`` (0: none) bounds memory as word2vec.c's ReduceVocab does: whenever the
    table holds more keys, those counted at most ``p`` times so far are dropped, p = 1 at
    the first pruning, 2 at the second, …; the last p is returned (0: never pruned).
    """
    counted = _count_in_table(corpus, block_keys, max_keys)
    process.release_freed_memory()  # the table's, freed on _count_in_table's return
    return counted


def _count_in_table(corpus, block_keys, max_keys):
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

    def prune(pruned_below):
        keys, values = table.export()
        rare = tf.reshape(values, [-1, 2])[:, 0] <= pruned_below + 1
        table.remove(tf.boolean_mask(tf.reshape(keys, [-1]), rare))
        return pruned_below + 1

    @tf.function
    def count_blocks():
        tokens = sentences = distinct = pruned_below = tf.constant(0, tf.int64)
        for unique, counts, block_tokens, block_sentences in dataset.prefetch(tf.data.AUTOTUNE):
            seen = table.lookup(unique)  # `unique` is in first-occurrence order
            new = tf.cast(seen[:, 1] < 0, tf.int64)
            first = tf.where(new > 0, distinct + tf.cumsum(new, exclusive=True), seen[:, 1])
            table.insert(unique, tf.stack([seen[:, 0] + counts, first], axis=1))
            distinct += tf.reduce_sum(new)
            tokens += block_tokens
            sentences += block_sentences
            if max_keys and table.size() > max_keys:
                pruned_below = prune(pruned_below)
        return tokens, sentences, pruned_below

    tokens, sentences, pruned_below = count_blocks()
    keys, values = table.export()
    keys, values = keys.numpy(), values.numpy()
    return keys, values[:, 0], values[:, 1], int(tokens), int(sentences), int(pruned_below)


def count_vocabulary(corpus, tokenizer, min_count, max_vocab_size=0, phrases=None):
    """(Vocabulary, CorpusCounts) of a corpus: count_words, then Vocabulary.from_counts.

    ``phrases``: a sg_keras.phrases.PhraseTable whose phrases are joined into words.
    ``max_vocab_size`` keeps the most frequent words and bounds the counting table to
    ``table_bound(max_vocab_size)`` words (pruned beyond: CorpusCounts.pruned_below).

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
    words, word_counts, counts = _read_pass(corpus, lambda: count_words(
        corpus, tokenizer, phrases, table_bound(max_vocab_size)))
    return Vocabulary.from_counts(words, word_counts, min_count, max_vocab_size), counts


def vocabulary_from_file(path, corpus, tokenizer, min_count, max_vocab_size=0, phrases=None):
    """(Vocabulary, CorpusCounts) of a vocab.tsv (Vocabulary.load, then ``filtered``) and of
    the corpus's tokens and sentences (count_tokens): no word of the corpus is counted."""
    vocab = Vocabulary.load(path).filtered(min_count, max_vocab_size)
    known, counts = _read_pass(corpus, lambda: count_tokens(corpus, tokenizer, vocab, phrases))
    if not known:
        raise UsageError(f"none of the {len(vocab):,} words of {path} occurs in the corpus "
                         f"(tokenised with --tokenizer={tokenizer}): a vocabulary of another "
                         "corpus or tokenizer?")
    return vocab, counts


def _read_pass(corpus, count):
    """``count()``'s result (its last item CorpusCounts), a corpus file that became
    unreadable named as such; UsageError for a corpus without a word."""
    try:
        result = count()
    except tf.errors.OpError:
        corpus.check_read()
        raise
    if result[-1].tokens == 0:
        raise UsageError(f"the corpus has no words: {', '.join(corpus.paths)}")
    return result
