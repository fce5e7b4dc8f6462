"""Phrases: word2phrase's collocations (``new york`` → ``new_york``), learnt and joined in-graph.

Learning (:func:`learn_phrases`) counts words and adjacent word pairs (bigrams,
within a sentence) in one streaming pass, in TensorFlow ops. A bigram ``a b`` scores word2phrase's

    (count(a b) − min_count) / (count(a) · count(b)) · total_words

and is a phrase when the score exceeds the pass's threshold (and ``a`` and ``b``
each occur at least min_count times, as in word2phrase). Each further pass counts
the text with the earlier passes' phrases joined, so phrases of up to 2^passes
words form (Mikolov et al. ran word2phrase twice, thresholds 200 then 100).

Joining (:meth:`PhraseTable.join`) applies each pass's phrases in turn, as
word2phrase writes its output: left to right, a pair that is a phrase is joined
unless its first word was already joined to the word before it.

The phrases file (``phrases.tsv``): a header line naming the tokenizer and
min_count, then for each pass a ``# pass N`` line (its threshold and word count)
and its phrases, ``phrase<TAB>count<TAB>score`` by descending score.
"""

import dataclasses
import math
import re

import numpy as np
import tensorflow as tf

from sg_keras import text
from sg_keras.errors import UsageError
from sg_keras.io_utils import atomic_write_text

SEPARATOR = "_"  # joins a phrase's words, as in word2phrase and gensim
_HEADER = "# sg-keras phrases"
_HEADER_LINE = re.compile(r"# sg-keras phrases: tokenizer=(\S+) min_count=(\d+) passes=(\d+)$")
_PASS_LINE = re.compile(r"# pass (\d+): threshold=(\S+) words=(\d+)$")


@dataclasses.dataclass
class PhrasePass:
    """One pass's phrases: their joined form, bigram count and score, by descending score."""

    threshold: float
    words: int  # the tokens this pass counted (earlier passes' phrases joined)
    phrases: list
    counts: np.ndarray
    scores: np.ndarray


class PhraseTable:
    """The phrases of every pass, and the in-graph op that joins them in text.

    Example:

    >>> table = PhraseTable("whitespace", 1, [PhrasePass(1.0, 4, ["new_york"], [1], [2.0])])
    >>> words = tf.ragged.constant([["in", "new", "york", "york"]])
    >>> table.join(words).to_list()
    [[b'in', b'new_york', b'york']]
    """

    def __init__(self, tokenizer, min_count, passes):
        self.tokenizer = tokenizer
        self.min_count = min_count
        self.passes = list(passes)
        # Built here, eagerly: tf.data functions and SavedModels capture them. (A pass
        # that found no phrase has no table: TF's tables cannot be empty.)
        self.tables = [_phrase_set(p.phrases) for p in self.passes if p.phrases]

    def copy(self):
        """The same phrases with tables of its own (for another input pipeline)."""
        return PhraseTable(self.tokenizer, self.min_count, self.passes)

    def __len__(self):
        return sum(len(p.phrases) for p in self.passes)

    @property
    def phrases(self):
        """Every phrase (joined with SEPARATOR), pass after pass."""
        return [phrase for p in self.passes for phrase in p.phrases]

    def join(self, words):
        """``words`` (a RaggedTensor of strings [sentences, None]) with the phrases joined."""
        for table in self.tables:
            words = join_phrases(words, table)
        return words

    def to_tsv(self):
        lines = [f"{_HEADER}: tokenizer={self.tokenizer} min_count={self.min_count} "
                 f"passes={len(self.passes)}\n"]
        for number, p in enumerate(self.passes, 1):
            lines.append(f"# pass {number}: threshold={p.threshold!r} words={p.words}\n")
            lines.extend(f"{phrase}\t{count}\t{score:.6f}\n"
                         for phrase, count, score in zip(p.phrases, p.counts, p.scores))
        return "".join(lines)

    def save(self, path):
        atomic_write_text(path, self.to_tsv())

    @classmethod
    def load(cls, path, tokenizer=None):
        """Reads a phrases file; UsageError if it is not one (or, given ``tokenizer``, if it
        was made with another tokenizer)."""
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            raise UsageError(f"phrases file not found: {path}") from None
        except (UnicodeDecodeError, IsADirectoryError):
            raise UsageError(f"not a phrases file (made by `sg-keras phrases`): {path}") from None
        header = _HEADER_LINE.match(lines[0]) if lines else None
        if not header:
            raise UsageError(f"not a phrases file (made by `sg-keras phrases`): {path}")
        made_with, min_count, pass_count = header[1], int(header[2]), int(header[3])
        if tokenizer is not None and made_with != tokenizer:
            raise UsageError(f"{path} was made with --tokenizer={made_with}, not {tokenizer}")
        passes = []
        for number, line in enumerate(lines[1:], 2):
            pass_line = _PASS_LINE.match(line)
            if pass_line and int(pass_line[1]) == len(passes) + 1:
                passes.append(PhrasePass(float(pass_line[2]), int(pass_line[3]), [], [], []))
                continue
            fields = line.split("\t")
            if not passes or len(fields) != 3 or not _is_phrase_row(fields):
                raise UsageError(f"malformed phrases file {path}, line {number}: {line[:80]!r}")
            passes[-1].phrases.append(fields[0])
            passes[-1].counts.append(int(fields[1]))
            passes[-1].scores.append(float(fields[2]))
        if len(passes) != pass_count:
            raise UsageError(f"malformed phrases file {path}: {len(passes)} of its "
                             f"{pass_count} passes")
        for p in passes:
            p.counts, p.scores = np.array(p.counts, np.int64), np.array(p.scores)
        return cls(made_with, min_count, passes)


def _is_phrase_row(fields):
    phrase, count, score = fields
    try:
        return SEPARATOR in phrase and int(count) > 0 and math.isfinite(float(score))
    except ValueError:
        return False


def _phrase_set(phrases):
    """A table phrase → 1 (0 for anything else)."""
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(phrases, tf.string, shape=[len(phrases)]),
                                            tf.ones([len(phrases)], tf.int64)),
        default_value=0)


def join_phrases(words, phrase_set):
    """One pass of joining: adjacent words whose joined form is in ``phrase_set`` (a
    table phrase → 1) become that phrase, left to right, a word joined once at most.

    ``words``: a RaggedTensor of strings [sentences, None]; pairs never span sentences.
    A run of consecutive joinable pairs joins its 1st, 3rd, 5th … pair (each of
    those pairs' first word is free: the pair before it was not joined), as the
    sequential scan of word2phrase does.

    Example:

    >>> phrase_set = _phrase_set(["a_a"])
    >>> join_phrases(tf.ragged.constant([["a", "a", "a"], ["a", "a"]]), phrase_set).to_list()
    [[b'a_a', b'a'], [b'a_a']]
    >>> join_phrases(tf.ragged.constant([["b", "a"]]), phrase_set).to_list()
    [[b'b', b'a']]
    """
    flat, rows = words.flat_values, words.value_rowids()
    pairs = tf.strings.join([flat[:-1], flat[1:]], separator=SEPARATOR)
    joinable = (rows[:-1] == rows[1:]) & (phrase_set.lookup(pairs) > 0)
    positions = tf.range(tf.size(joinable))
    run_starts = joinable & ~tf.concat([[False], joinable[:-1]], 0)
    # (A leading 0 for pairs before any run: no run start, nothing to gather otherwise.)
    run_start = tf.gather(tf.concat([[0], tf.boolean_mask(positions, run_starts)], 0),
                          tf.cumsum(tf.cast(run_starts, tf.int32)))
    joined = joinable & ((positions - run_start) % 2 == 0)
    first_of_pair = tf.concat([joined, [False]], 0)  # per word
    second_of_pair = tf.concat([[False], joined], 0)
    values = tf.where(first_of_pair, tf.concat([pairs, [""]], 0), flat)
    return tf.RaggedTensor.from_value_rowids(
        tf.boolean_mask(values, ~second_of_pair), tf.boolean_mask(rows, ~second_of_pair),
        nrows=words.nrows())


def learn_phrases(corpus, tokenizer="unicode", min_count=5, thresholds=(100.0,)):
    """A PhraseTable of ``len(thresholds)`` passes over ``corpus`` (a sg_keras Corpus).

    Example:

    >>> import os, tempfile
    >>> from sg_keras.corpus import Corpus
    >>> path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("she left new york for los angeles\\nnew york was cold\\n"
    ...                 "they flew to new york\\n")
    >>> table = learn_phrases(Corpus([path]), "whitespace", min_count=1, thresholds=[1.0])
    >>> table.phrases, table.passes[0].scores.round(2).tolist()  # (3 - 1) / (3 · 3) · 16
    (['new_york'], [3.56])
    """
    check_settings(min_count, thresholds)
    table = PhraseTable(tokenizer, min_count, [])
    for threshold in thresholds:
        table = PhraseTable(tokenizer, min_count,
                            [*table.passes, _learn_pass(corpus, table, min_count, threshold)])
    return table


def check_settings(min_count, thresholds):
    """Raises UsageError for min_count < 1, no pass, or a threshold that is not positive."""
    if min_count < 1:
        raise UsageError(f"--min_count must be at least 1, got {min_count}")
    if not thresholds:
        raise UsageError("--passes must be at least 1")
    for threshold in thresholds:
        if not threshold > 0 or math.isinf(threshold):
            raise UsageError(f"--threshold must be positive and finite, got {threshold}")


def _learn_pass(corpus, table, min_count, threshold):
    """The next pass: count the text with ``table``'s phrases joined, score its bigrams."""
    try:
        counted = _count_pass(corpus, table)
    except tf.errors.OpError:
        corpus.check_read()
        raise
    if counted[-1] == 0:
        raise UsageError(f"the corpus has no words: {', '.join(corpus.paths)}")
    words, word_counts, bigrams, bigram_counts, tokens = counted
    frequent = bigram_counts > min_count  # see score_pass
    return score_pass([word.decode("utf-8") for word in words.tolist()], word_counts,
                      bigrams[frequent], bigram_counts[frequent], tokens, min_count, threshold)


def block_counts(table):
    """The counting function of the pass after ``table``'s, in-graph: a block of sentences →
    (its distinct words [n], their counts [n], its distinct bigrams [m, 2] as indices
    into those words, their counts [m], its tokens), the phrases so far joined."""

    def count_block(sentences):
        words = table.join(text.tokenize(sentences, table.tokenizer, valid_utf8=True))
        flat, rows = words.flat_values, words.value_rowids()
        distinct, ids, counts = tf.unique_with_counts(flat, out_idx=tf.int64)
        size = tf.size(distinct, out_type=tf.int64)
        pair_keys = tf.boolean_mask(ids[:-1] * size + ids[1:], rows[:-1] == rows[1:])
        pairs, _, pair_counts = tf.unique_with_counts(pair_keys, out_idx=tf.int64)
        return (distinct, counts, tf.stack([pairs // size, pairs % size], axis=1), pair_counts,
                tf.size(flat, out_type=tf.int64))

    return count_block


def _count_pass(corpus, table):
    """(distinct words, their counts, distinct bigrams [m, 2] as indices into the words,
    their counts, tokens) of the corpus, as numpy arrays and an int.

    Words get ids in order of first occurrence in a string table; bigrams are counted
    by their two ids (_bigram_keys) in an int64 table, so no bigram string is ever built. (Ids stay below 2^31: a table of 2^31 words would not fit in memory.)
    """
    words = tf.lookup.experimental.MutableHashTable(
        tf.string, tf.int64, default_value=tf.constant([0, -1], tf.int64),
        experimental_is_anonymous=True)  # freed on return, as vocab.count_keys' table
    bigrams = tf.lookup.experimental.DenseHashTable(
        tf.int64, tf.int64, default_value=0, empty_key=-1, deleted_key=-2,
        initial_num_buckets=2 ** 20, experimental_is_anonymous=True)
    dataset = corpus.dataset().map(block_counts(table), num_parallel_calls=tf.data.AUTOTUNE,
                                   deterministic=True)

    @tf.function
    def count_blocks():
        tokens = distinct = tf.constant(0, tf.int64)
        for block_words, counts, pairs, pair_counts, block_tokens in dataset.prefetch(
                tf.data.AUTOTUNE):
            seen = words.lookup(block_words)  # [count so far, id]
            new = tf.cast(seen[:, 1] < 0, tf.int64)
            ids = tf.where(new > 0, distinct + tf.cumsum(new, exclusive=True), seen[:, 1])
            words.insert(block_words, tf.stack([seen[:, 0] + counts, ids], axis=1))
            distinct += tf.reduce_sum(new)
            keys = _bigram_keys(tf.gather(ids, pairs[:, 0]), tf.gather(ids, pairs[:, 1]))
            bigrams.insert(keys, bigrams.lookup(keys) + pair_counts)
            tokens += block_tokens
        return tokens

    tokens = int(count_blocks())
    word_keys, values = (x.numpy() for x in words.export())
    bigram_keys, bigram_counts = (x.numpy() for x in bigrams.export())
    used = bigram_keys >= 0  # the dense table's empty and deleted slots are negative
    bigram_keys, bigram_counts = bigram_keys[used], bigram_counts[used]
    position = np.empty(len(word_keys), np.int64)  # id → row of word_keys
    position[values[:, 1]] = np.arange(len(word_keys))
    firsts = bigram_keys >> 32
    seconds = (bigram_keys & _LOW_BITS) ^ _scramble(firsts)
    return (word_keys, values[:, 0], np.stack([position[firsts], position[seconds]], axis=1),
            bigram_counts, tokens)


_LOW_BITS = 2 ** 32 - 1


def _scramble(ids):
    """32 bits that depend on all of ``ids``' bits (Knuth's multiplicative hash)."""
    return (ids * 2654435761) & _LOW_BITS


def _bigram_keys(firsts, seconds):
    """A bigram's int64 key in the counting table: its first word's id in the high 32
    bits, its second's xor a scramble of the first's in the low 32. The dense table
    hashes an integer as itself, so its low bits must vary with both words (with only
    the second's, the bigrams of a frequent word's all collide); xor keeps it reversible.
    """
    return tf.bitwise.left_shift(firsts, 32) | tf.bitwise.bitwise_xor(seconds, _scramble(firsts))


def score_pass(words, word_counts, bigrams, bigram_counts, tokens, min_count, threshold):
    """The PhrasePass of counted ``words`` (strings) and ``bigrams`` ([m, 2] indices into
    them) with their counts; ``tokens``: the tokens counted.

    A phrase's bigram count exceeds min_count (its score is positive), and so then do
    its words' counts: bigrams counted min_count times or fewer may be left out.
    Scores are computed in float64 as Python computes the formula on integers.
    """
    word_counts = np.asarray(word_counts, np.int64)
    bigrams = np.asarray(bigrams, np.int64).reshape(-1, 2)
    bigram_counts = np.asarray(bigram_counts, np.int64)
    scores = ((bigram_counts - min_count).astype(np.float64)
              / (word_counts[bigrams[:, 0]] * word_counts[bigrams[:, 1]]).astype(np.float64)
              * tokens)
    kept = np.flatnonzero((bigram_counts > min_count) & (scores > threshold))
    phrases = sorted((-scores[i], words[bigrams[i, 0]] + SEPARATOR + words[bigrams[i, 1]],
                      bigram_counts[i]) for i in kept.tolist())
    return PhrasePass(threshold, tokens, [phrase for _, phrase, _ in phrases],
                      np.array([count for _, _, count in phrases], np.int64),
                      np.array([-negated for negated, _, _ in phrases], np.float64))
