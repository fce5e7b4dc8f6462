"""Text → words: streamed corpus reading and the in-graph tensorflow-text tokeniser.

The corpus reader is the only Python on the data path: it streams files in
blocks and yields batches of *sentences* (one line of a file, or a piece of a
very long line) as 1-D string tensors. Everything per-token happens in TF ops,
starting with :func:`tokenize`, the same function the serving export runs.
"""

import atexit
import codecs
import gc
import gzip
import os
import threading

import numpy as np
import tensorflow as tf

from sg_keras.errors import UsageError

TOKENIZERS = ("unicode", "whitespace")

# A line longer than this is cut at whitespace into several sentences, as gensim
# (10,000 words) and word2vec.c (1,000 words) cut long sentences: ~10k words of
# English. Windows never cross a sentence boundary.
MAX_SENTENCE_CHARS = 64 * 1024
# Sentences are handed to tf.data in batches of about this many characters.
BLOCK_CHARS = 256 * 1024  # measured against 1 MiB: as fast, ~70 MiB less peak memory

# Runs of letters, combining marks and digits are words; anything else separates.
_NON_WORD = r"[^\p{L}\p{M}\p{N}]+"

# tf.data calls the corpus reader (a Python generator) from its own threads. A
# pipeline left in a reference cycle, as an exception out of model.fit leaves it
# (its traceback), would be freed only while Python shuts down, when those threads
# may no longer take the GIL: tf.data then waits for them forever and the process
# hangs instead of exiting. Collect such cycles while Python still runs them.
atexit.register(gc.collect)

# The characters with Unicode's White_Space property beyond ASCII's (which
# tf.strings.split splits on): NEL, NBSP, Ogham space, the General Punctuation
# spaces, line and paragraph separators, narrow NBSP, medium math space, ideographic space.
_NON_ASCII_SPACE = (r"[\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}"
                    r"\x{3000}]")


def replace_invalid_utf8(texts):
    """Replaces invalid UTF-8 byte sequences by U+FFFD, in-graph (as Corpus does in Python)."""
    return tf.strings.unicode_transcode(
        texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)


def tokenize(texts, tokenizer="unicode", valid_utf8=False):
    """Normalises and splits a 1-D string tensor into words (a RaggedTensor).

    ``unicode``: invalid UTF-8 replaced by U+FFFD, NFKC, case folding, and
    words are runs of letters, marks and digits (punctuation dropped), so
    ``"The lazy dog."`` → ``[the, lazy, dog]``. ``whitespace``: invalid UTF-8
    replaced, then split on Unicode whitespace only, for pre-tokenised corpora
    such as text8. ``valid_utf8``: the texts are known to be valid UTF-8 (what
    Corpus yields), so the replacement pass is skipped.
    """
    if not valid_utf8:
        texts = replace_invalid_utf8(texts)
    if tokenizer == "whitespace":
        # Core TF ops only: TF Serving runs this function too.
        return tf.strings.split(tf.strings.regex_replace(texts, _NON_ASCII_SPACE, " "))
    # Imported here, not with the module: a process that never tokenises this way
    # (--tokenizer=whitespace) saves TF Text's 120 MiB of memory and its import time.
    import tensorflow_text as tf_text

    texts = tf_text.case_fold_utf8(tf_text.normalize_utf8(texts, "NFKC"))
    return tf_text.regex_split(texts, _NON_WORD, keep_delim_regex_pattern="")


def check_tokenizer(tokenizer):
    if tokenizer not in TOKENIZERS:
        raise UsageError(
            f"unknown tokenizer {tokenizer!r}: choose one of {', '.join(TOKENIZERS)}")


class _InvalidUtf8Counter(threading.local):
    count = 0


_INVALID = _InvalidUtf8Counter()


def _count_and_replace(error):
    _INVALID.count += 1
    return "\ufffd", error.end


codecs.register_error("sg_keras.count_and_replace", _count_and_replace)


def _open_binary(path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def check_corpus_files(paths):
    """Fails with a UsageError unless every path is a readable, non-binary text file."""
    if not paths:
        raise UsageError("no corpus given")
    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"corpus file not found: {path}")
        try:
            with _open_binary(path) as stream:
                head = stream.read(64 * 1024)
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise UsageError(f"cannot read corpus file {path}: {error}") from None
        if b"\x00" in head:
            raise UsageError(f"corpus file {path} looks binary (it contains NUL bytes)")
        decoded = head.decode("utf-8", errors="replace")
        if head and decoded.count("\ufffd") > 0.1 * len(decoded):
            raise UsageError(f"corpus file {path} looks binary (mostly invalid UTF-8)")


def _split_long(line):
    """Cuts a line into pieces of at most MAX_SENTENCE_CHARS, at whitespace."""
    while len(line) > MAX_SENTENCE_CHARS:
        cut = line.rfind(" ", 0, MAX_SENTENCE_CHARS)
        if cut <= 0:
            cut = MAX_SENTENCE_CHARS
        yield line[:cut]
        line = line[cut:]
    yield line


class Corpus:
    """One or more plain-text or gzip files, streamed as batches of sentences.

    A line is a sentence; a line longer than MAX_SENTENCE_CHARS is cut at
    whitespace, so memory stays bounded whatever the line length.
    ``invalid_utf8`` counts the invalid byte sequences replaced by U+FFFD in
    the last complete pass. ``opener`` opens a path as a binary file (default:
    local files, gzip recognised by content; pipelines/beam_vocab.py reads
    through Beam's filesystems).
    """

    def __init__(self, paths, opener=None):
        self.paths = list(paths)
        self.opener = opener or _open_binary
        self.invalid_utf8 = 0
        self._invalid_this_pass = 0

    def _decode(self, decoder, data, final):
        # The error handler runs in the calling thread, so the thread-local
        # count is read around each call (tf.data may switch threads between calls).
        _INVALID.count = 0
        decoded = decoder.decode(data, final=final)
        self._invalid_this_pass += _INVALID.count
        return decoded

    def _lines(self):
        decoder_factory = codecs.getincrementaldecoder("utf-8")
        for path in self.paths:
            decoder = decoder_factory(errors="sg_keras.count_and_replace")
            pending = ""
            with self.opener(path) as stream:
                while True:
                    data = stream.read(BLOCK_CHARS)
                    final = not data
                    text = pending + self._decode(decoder, data, final)
                    lines = text.split("\n")
                    pending = lines.pop()
                    if final and pending:
                        lines.append(pending)
                    for line in lines:
                        yield from _split_long(line)
                    if not final and len(pending) > MAX_SENTENCE_CHARS:
                        *pieces, pending = _split_long(pending)
                        yield from pieces
                    if final:
                        break

    def sentence_blocks(self):
        """Yields numpy arrays of sentences of about BLOCK_CHARS characters in all."""
        self._invalid_this_pass = 0
        block, size = [], 0
        for sentence in self._lines():
            block.append(sentence)
            size += len(sentence)
            if size >= BLOCK_CHARS:
                yield np.array(block, dtype=object)
                block, size = [], 0
        if block:
            yield np.array(block, dtype=object)
        self.invalid_utf8 = self._invalid_this_pass

    def dataset(self):
        """A tf.data.Dataset of 1-D string tensors, one per block of sentences (valid UTF-8)."""
        return tf.data.Dataset.from_generator(
            self.sentence_blocks,
            output_signature=tf.TensorSpec([None], tf.string))
