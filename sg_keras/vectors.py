"""Word-vector files: word2vec text and binary formats, and the Embedding Projector's TSV."""

import collections
import concurrent.futures
import os

import numpy as np
import tensorflow as tf

from sg_keras import process
from sg_keras.errors import UsageError
from sg_keras.io_utils import atomic_open, atomic_write_text

PROJECTOR_VECTORS = "vectors.tsv"
PROJECTOR_METADATA = "metadata.tsv"
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


FORMAT_ROWS = 1024  # rows formatted at a time: bounds the memory the strings take
FORMAT_THREADS = 2  # TensorFlow's formatting kernels run outside the GIL


def _write_rows(f, matrix, separator, prefixes=None):
    """Writes each row of ``matrix`` as a line to binary file ``f``, numbers in ``%.6g``.

    Formatted in-graph (twice as fast as numpy.savetxt), FORMAT_ROWS rows at a
    time, by FORMAT_THREADS threads, at most FORMAT_THREADS + 1 chunks in flight;
    ``prefixes`` (one string per row) start the lines. (A parallel tf.data map
    held ~90 MiB more: peak memory counts here.)
    """
    matrix = np.asarray(matrix, np.float32)

    def lines(start):
        numbers = tf.strings.as_string(matrix[start:start + FORMAT_ROWS], precision=6,
                                       shortest=True)
        rows = tf.strings.reduce_join(numbers, axis=1, separator=separator)
        if prefixes is not None:
            rows = tf.strings.join([prefixes[start:start + FORMAT_ROWS], rows])
        return tf.strings.reduce_join(rows + "\n").numpy()

    with concurrent.futures.ThreadPoolExecutor(FORMAT_THREADS) as pool:
        pending = collections.deque()
        for start in range(0, len(matrix), FORMAT_ROWS):
            pending.append(pool.submit(lines, start))
            if len(pending) > FORMAT_THREADS:
                f.write(pending.popleft().result())
        for chunk in pending:
            f.write(chunk.result())


def save_word2vec_text(path, words, matrix):
    """Writes ``V d`` then ``word x1 … xd`` per line (gensim's load_word2vec_format reads it)."""
    with atomic_open(path) as f:
        f.write(f"{len(words)} {matrix.shape[1]}\n".encode())
        _write_rows(f, matrix, " ", [word + " " for word in words])


def save_word2vec_binary(path, words, matrix):
    """Writes word2vec.c's binary format: ``V d`` then ``word``, a space, d float32s, newline."""
    matrix = np.asarray(matrix, "<f4")
    with atomic_open(path) as f:
        f.write(f"{len(words)} {matrix.shape[1]}\n".encode())
        for word, row in zip(words, matrix):
            f.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")


def save_projector_tsv(directory, words, matrix, counts=None):
    """Writes ``vectors.tsv`` and ``metadata.tsv`` for the Embedding Projector.

    ``metadata.tsv`` has one word per row, or with ``counts`` the columns
    ``word`` and ``count`` under a header row. A backslash, tab, newline or
    carriage return in a word is escaped (``\\\\ \\t \\n \\r``), so every
    word stays on its own row.
    """
    with atomic_open(os.path.join(directory, PROJECTOR_VECTORS)) as f:
        _write_rows(f, matrix, "\t")
    labels = [word.translate(_TSV_ESCAPES) for word in words]
    if counts is None:
        metadata = "".join(label + "\n" for label in labels)
    else:
        metadata = "word\tcount\n" + "".join(
            f"{label}\t{int(count)}\n" for label, count in zip(labels, counts))
    atomic_write_text(os.path.join(directory, PROJECTOR_METADATA), metadata)


def load_word2vec(path, limit=None):
    """(words, [V, d] float32 matrix) from a word2vec text or binary file (auto-detected);
    ``limit``: only its first that many vectors (gensim's ``limit``).

    UsageError for a malformed or truncated file, a header claiming more vectors than
    the file holds or the machine can, and vectors that are not finite.
    """
    try:
        with open(path, "rb") as f:
            header = f.readline()
            try:
                count, dim = (int(x) for x in header.split())
                if count < 1 or dim < 1:
                    raise ValueError
            except ValueError:
                raise UsageError(f"{path}:1: expected a header 'COUNT DIM', "
                                 f"found {header[:60]!r}") from None
            size = os.fstat(f.fileno()).st_size
            # A row takes at least two bytes a number (text: a digit and a space).
            if count * dim * 2 > size:
                raise UsageError(f"{path}: the header claims {count:,} vectors of {dim} numbers, "
                                 f"more than its {size:,} bytes can hold")
            if limit is not None and limit < 1:
                raise UsageError(f"limit must be at least 1, got {limit}")
            count = min(count, limit or count)
            process.check_memory(size + 4 * count * dim, f"reading {path}")
            body = f.read()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    parse = _parse_binary if _is_binary(body, dim) else _parse_text
    words, matrix = parse(path, body, count, dim)
    rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(rows):
        others = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
        raise UsageError(f"{path}: the vector of {words[rows[0]]!r} (row {rows[0] + 1}){others} "
                         "is not finite: NaN and infinite values are refused")
    return words, matrix


def _is_binary(body, dim):
    """Text files start with a row of a word and dim numbers; anything else is binary."""
    first = body.split(b"\n", 1)[0].rstrip().split(b" ")
    if len(first) != dim + 1:
        return True
    try:
        for number in first[1:]:
            float(number)
    except ValueError:
        return True
    return False


def _parse_binary(path, body, count, dim):
    words, matrix = [], np.empty((count, dim), np.float32)
    position = 0
    for i in range(count):
        while body[position:position + 1] in (b"\n", b" "):
            position += 1
        space = body.find(b" ", position)
        end = space + 1 + 4 * dim
        if space < 0 or end > len(body):
            raise UsageError(f"{path}: truncated binary data at word {i + 1} of {count}")
        words.append(body[position:space].decode("utf-8", errors="replace"))
        matrix[i] = np.frombuffer(body, "<f4", dim, space + 1)
        position = end
    return words, matrix


def _parse_text(path, body, count, dim):
    lines = body.decode("utf-8", errors="replace").splitlines()
    if len(lines) < count:
        raise UsageError(f"{path}: header says {count} words, the file has {len(lines)}")
    words, matrix = [], np.empty((count, dim), np.float32)
    for i, line in enumerate(lines[:count]):
        parts = line.rstrip().split(" ")
        if len(parts) != dim + 1:
            raise UsageError(f"{path}:{i + 2}: expected a word and {dim} numbers, "
                             f"found {len(parts)} fields")
        try:
            matrix[i] = np.array(parts[1:], np.float32)
        except ValueError:
            raise UsageError(f"{path}:{i + 2}: a vector value is not a number") from None
        words.append(parts[0])
    return words, matrix
