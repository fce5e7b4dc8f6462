"""Corpus files → blocks of sentences: the local reader and the cluster reader.

Both readers follow one rule for what a sentence is: a line of a file (plain text
or gzip, recognised by content), and a line of more than MAX_SENTENCE_WORDS
whitespace-separated words is cut after every MAX_SENTENCE_WORDS-th word, as gensim
cuts long sentences (word2vec.c cuts at 1,000). Windows never cross a sentence.

* :class:`Corpus` streams files in Python, in bounded memory whatever the line
  length (a run of more than MAX_PENDING_CHARS without whitespace, which only it
  cuts, aside), and replaces invalid UTF-8 by U+FFFD, counting it. It is the only
  Python on the data path; everything per token happens in TF ops.
* :class:`ShardedCorpus` is one worker's shard of the corpus, read with
  TensorFlow ops alone, as a remote worker of a cluster needs (it cannot run a
  Python generator of the process that made the dataset).
"""

import codecs
import os
import re
import threading
import zlib

import numpy as np
import tensorflow as tf

from sg_keras import process, text
from sg_keras.errors import UsageError
from sg_keras.io_utils import is_gzip, open_binary

MAX_SENTENCE_WORDS = 10_000  # gensim's max_sentence_length
# Sentences are handed to tf.data in blocks of about this many characters (larger
# blocks were no faster and held more memory: benchmarks/RESULTS.md).
BLOCK_CHARS = 256 * 1024
# The cluster reader's blocks: about this many words (about BLOCK_CHARS of English).
BLOCK_WORDS = 50_000
# The local reader holds at most this much of an unfinished line: an unfinished
# sentence longer than this (words of thousands of characters) is cut where it stands.
MAX_PENDING_CHARS = 4 * BLOCK_CHARS
# Read this much of each file to check that it is text.
_CHECKED_BYTES = 64 * 1024

# ASCII whitespace, as tf.strings.split splits on it.
_WHITESPACE = " \t\n\v\f\r"


def _sentence_pattern(max_words):
    """A regex matching one sentence: leading whitespace, then up to max_words words."""
    space, word = f"[{re.escape(_WHITESPACE)}]", f"[^{re.escape(_WHITESPACE)}]"
    return re.compile(f"{space}*(?:{word}+{space}*){{1,{max_words}}}")


def cut_sentences(line, max_words=MAX_SENTENCE_WORDS, complete=True):
    """The sentences of ``line``: pieces of at most ``max_words`` words, cut at whitespace.

    ``complete``: the line ends here; otherwise (a line still being read) only
    pieces of exactly ``max_words`` words followed by more text are returned, and
    the rest is returned last, to be continued. Returns (sentences, rest).

    Example:

    >>> cut_sentences("a b c d e", max_words=2)
    (['a b ', 'c d ', 'e'], '')
    >>> cut_sentences("a b c d e", max_words=2, complete=False)
    (['a b ', 'c d '], 'e')
    """
    if len(line) <= 2 * max_words:  # n words take at least 2n - 1 characters
        return ([line], "") if complete else ([], line)
    pattern = _sentence_pattern(max_words)
    sentences, position = [], 0
    while position < len(line):
        end = pattern.match(line, position)
        if end is None:  # only whitespace is left (a line that has no word yet)
            if complete:
                sentences.append(line[position:])
                position = len(line)
            break  # unfinished: words may follow in the next block
        if not complete and end.end() == len(line):
            break  # its last word may go on in the next block
        sentences.append(line[position:end.end()])
        position = end.end()
    if complete:
        return sentences, ""
    return sentences, line[position:]


class _InvalidUtf8Counter(threading.local):
    count = 0


_INVALID = _InvalidUtf8Counter()


def _count_and_replace(error):
    _INVALID.count += 1
    return "\ufffd", error.end


codecs.register_error("sg_keras.count_and_replace", _count_and_replace)


def check_corpus_files(paths):
    """Fails with a UsageError unless every path is a readable, non-binary text file."""
    if not paths:
        raise UsageError("no corpus given")
    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"corpus file not found: {path}")
        try:
            with open_binary(path) as stream:
                head = stream.read(_CHECKED_BYTES)
        except (OSError, EOFError) as error:
            raise UsageError(f"cannot read corpus file {path}: {error}") from None
        if b"\x00" in head:
            raise UsageError(f"corpus file {path} looks binary (it contains NUL bytes)")
        decoded = head.decode("utf-8", errors="replace")
        if head and decoded.count("\ufffd") > 0.1 * len(decoded):
            raise UsageError(f"corpus file {path} looks binary (mostly invalid UTF-8)")


class Corpus:
    """One or more plain-text or gzip files, streamed as blocks of sentences.

    ``invalid_utf8`` counts the invalid byte sequences replaced by U+FFFD in the
    last complete pass. ``opener`` opens a path as an uncompressed binary stream
    (default: local files; pipelines/beam_vocab.py reads through Beam's filesystems).

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("the quick brown fox\\njumps over the lazy dog\\n")
    >>> [block.tolist() for block in Corpus([path]).sentence_blocks()]
    [['the quick brown fox', 'jumps over the lazy dog']]
    """

    def __init__(self, paths, opener=None):
        self.paths = list(paths)
        self.opener = opener
        self.invalid_utf8 = 0
        self._invalid_this_pass = 0
        self.read_error = None  # a UsageError: the last pass of dataset() ended on it

    def _open(self, path):
        return open_binary(path, self.opener) if self.opener else open_binary(path)

    def _decode(self, decoder, data, final):
        # The error handler runs in the calling thread, so the thread-local
        # count is read around each call (tf.data may switch threads between calls).
        _INVALID.count = 0
        decoded = decoder.decode(data, final=final)
        self._invalid_this_pass += _INVALID.count
        return decoded

    def sentences(self):
        """Yields the corpus's sentences (str), file after file; UsageError for a file
        that cannot be read to its end (a truncated or corrupt gzip file, say)."""
        for path in self.paths:
            try:
                yield from self._file_sentences(path)
            except (OSError, EOFError, zlib.error) as error:
                raise UsageError(f"cannot read corpus file {path}: {error}") from None

    def _file_sentences(self, path):
        decoder = codecs.getincrementaldecoder("utf-8")(errors="sg_keras.count_and_replace")
        pending = ""
        with self._open(path) as stream:
            while True:
                data = stream.read(BLOCK_CHARS)
                final = not data
                lines = (pending + self._decode(decoder, data, final)).split("\n")
                pending = lines.pop()
                if final and pending:
                    lines.append(pending)
                for line in lines:
                    yield from cut_sentences(line, MAX_SENTENCE_WORDS)[0]
                if final:
                    break
                pieces, pending = cut_sentences(pending, MAX_SENTENCE_WORDS,
                                                complete=False)
                yield from pieces
                if len(pending) > MAX_PENDING_CHARS:
                    yield pending
                    pending = ""

    def sentence_blocks(self):
        """Yields numpy arrays of sentences of about BLOCK_CHARS characters in all."""
        self._invalid_this_pass = 0
        block, size = [], 0
        for sentence in self.sentences():
            block.append(sentence)
            size += len(sentence)
            if size >= BLOCK_CHARS:
                yield np.array(block, dtype=object)
                block, size = [], 0
        if block:
            yield np.array(block, dtype=object)
        self.invalid_utf8 = self._invalid_this_pass

    def dataset(self):
        """A tf.data.Dataset of 1-D string tensors, one per block of sentences (valid UTF-8).

        A file that cannot be read fails the pipeline with a TensorFlow error (whose
        message holds a Python traceback); ``check_read()`` then raises the
        UsageError behind it.
        """
        process.collect_cycles_at_exit()

        def blocks():
            self.read_error = None
            try:
                yield from self.sentence_blocks()
            except UsageError as error:
                self.read_error = error
                raise

        return tf.data.Dataset.from_generator(
            blocks, output_signature=tf.TensorSpec([None], tf.string))

    def check_read(self):
        """Raises the UsageError that ended the last pass of ``dataset()``, if one did."""
        if self.read_error is not None:
            raise self.read_error


def sentences_per_block(counts):
    """Sentences per block of the cluster reader, for blocks of about BLOCK_WORDS words."""
    return max(1, round(BLOCK_WORDS * counts.sentences / max(counts.tokens, 1)))


class ShardedCorpus:
    """One worker's shard of the corpus, read with TensorFlow ops alone.

    With at least as many files as shards, each worker reads whole files (files
    ``index``, ``index + num_shards``, …); otherwise each reads every file and keeps
    every ``num_shards``-th sentence. No two shards share a sentence, so no two
    workers train on the same text. ``index`` may be a tensor (a parameter-server
    worker's index is only known where it runs).

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("one\\ntwo\\nthree\\n")
    >>> shard = ShardedCorpus([path], num_shards=2, index=1, sentences_per_block=8)
    >>> [block.tolist() for block in shard.dataset().as_numpy_iterator()]
    [[b'two']]
    """

    def __init__(self, paths, num_shards, index, sentences_per_block):
        self.paths = list(paths)
        self.num_shards = num_shards
        self.index = index
        self.sentences_per_block = sentences_per_block

    @property
    def by_file(self):
        return len(self.paths) >= self.num_shards

    def dataset(self):
        """A tf.data.Dataset of 1-D string tensors, one per block of sentences (valid UTF-8)."""
        files = tf.data.Dataset.from_tensor_slices(
            (self.paths, ["GZIP" if is_gzip(path) else "" for path in self.paths]))
        if self.by_file:
            files = files.shard(self.num_shards, self.index)
        lines = files.flat_map(tf.data.TextLineDataset)
        sentences = lines.batch(256).map(_cut_long_lines).unbatch()
        if not self.by_file:
            sentences = sentences.shard(self.num_shards, self.index)
        return sentences.batch(self.sentences_per_block).map(text.replace_invalid_utf8)


def _cut_long_lines(lines):
    """The sentences of a batch of lines, in-graph: cut_sentences' rule."""

    def cut():
        words = tf.strings.split(lines)
        lengths = words.row_lengths()
        pieces = tf.maximum((lengths + MAX_SENTENCE_WORDS - 1) // MAX_SENTENCE_WORDS, 1)
        line = words.value_rowids()
        position = tf.range(tf.size(line, out_type=tf.int64)) - tf.gather(words.row_starts(), line)
        piece = tf.gather(tf.cumsum(pieces, exclusive=True), line) + position // MAX_SENTENCE_WORDS
        sentences = tf.RaggedTensor.from_value_rowids(words.flat_values, piece,
                                                      nrows=tf.reduce_sum(pieces))
        joined = tf.strings.reduce_join(sentences, axis=1, separator=" ")
        # A line short enough to stay whole keeps its text as it is.
        whole = tf.repeat(lengths <= MAX_SENTENCE_WORDS, pieces)
        return tf.where(whole, tf.repeat(lines, pieces), joined)

    may_be_long = tf.reduce_any(tf.strings.length(lines) > 2 * MAX_SENTENCE_WORDS)
    return tf.cond(may_be_long, cut, lambda: lines)
