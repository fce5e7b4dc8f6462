"""Phrases: word2phrase's collocations (``new york`` → ``new_york``), learnt and joined in-graph.

Learning (:func:`learn_phrases`) counts words and adjacent word pairs (bigrams,
within a sentence) in one streaming pass, with the vocabulary's counting loop
(sg_keras.vocab.count_keys). A bigram ``a b`` scores word2phrase's

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

from sg_keras import text, vocab
from sg_keras.errors import UsageError
from sg_keras.io_utils import atomic_write_text

SEPARATOR = "_"  # joins a phrase's words, as in word2phrase and gensim
_BIGRAM = " "  # joins a counted bigram's words: no token holds a space
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
        keys, counts, _, words, _ = vocab.count_keys(corpus, pass_keys(table))
    except tf.errors.OpError:
        corpus.check_read()
        raise
    if words == 0:
        raise UsageError(f"the corpus has no words: {', '.join(corpus.paths)}")
    frequent = counts > min_count  # see score_pass
    return score_pass([key.decode("utf-8") for key in keys[frequent].tolist()],
                      counts[frequent].tolist(), words, min_count, threshold)


def pass_keys(table):
    """The counting function of the pass after ``table``'s: a block of sentences →
    (its words and its bigrams ``a b``, the phrases so far joined; tokens; sentences)."""

    def block_keys(sentences):
        words = table.join(text.tokenize(sentences, table.tokenizer, valid_utf8=True))
        flat, rows = words.flat_values, words.value_rowids()
        bigrams = tf.boolean_mask(tf.strings.join([flat[:-1], flat[1:]], separator=_BIGRAM),
                                  rows[:-1] == rows[1:])
        return (tf.concat([flat, bigrams], 0), tf.size(flat, out_type=tf.int64),
                tf.math.count_nonzero(words.row_lengths()))

    return block_keys


def score_pass(keys, counts, words, min_count, threshold):
    """The PhrasePass of counted ``keys`` (words, and bigrams ``a b``) and their ``counts``.

    ``words``: the tokens counted. A phrase's bigram count exceeds min_count (its
    score is positive), and so do its words' counts: keys counted min_count times or
    fewer may be left out.
    """
    word_counts = {key: count for key, count in zip(keys, counts) if _BIGRAM not in key}
    phrases = []
    for key, count in zip(keys, counts):
        first, _, second = key.partition(_BIGRAM)
        if second and count > min_count and first in word_counts and second in word_counts:
            score = (count - min_count) / (word_counts[first] * word_counts[second]) * words
            if score > threshold:
                phrases.append((-score, first + SEPARATOR + second, count))
    phrases.sort()
    return PhrasePass(threshold, words, [phrase for _, phrase, _ in phrases],
                      np.array([count for _, _, count in phrases], np.int64),
                      np.array([-negated for negated, _, _ in phrases]))
