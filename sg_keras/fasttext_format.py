"""fastText's binary model format (``.bin``, as ``fasttext`` saves it): reading only.

A ``.bin`` holds fastText's settings, its dictionary (words, counts) and its input
matrix: the word rows, then the ``bucket`` character n-gram rows (sg_keras.subwords
computes the same n-grams and hash). Layout (little-endian), from fastText 0.9's
``FastText::saveModel``: int32 magic 793712314 and version (≤ 12); Args: twelve
int32 (dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn,
lrUpdateRate) and a float64 (t); the dictionary: int32 size, nwords, nlabels, int64
ntokens, pruneidx_size (-1: not pruned), then per entry a NUL-terminated word, int64 count, int8
type (0 word, 1 label), then pruneidx_size int32 pairs; a bool (quantized input);
the input matrix (int64 rows, int64 columns, float32 data); a bool (quantized
output); the output matrix.
"""

import dataclasses
import os
import struct

import numpy as np

from sg_keras import process
from sg_keras.errors import UsageError

MAGIC = 793712314
LATEST_VERSION = 12
_ARGS = struct.Struct("<12id")
_DICTIONARY = struct.Struct("<3i2q")
_ENTRY = struct.Struct("<qb")
_MATRIX = struct.Struct("<2q")
_LOSSES = {1: "hs", 2: "ns", 3: "softmax", 4: "ova"}


@dataclasses.dataclass
class FastTextModel:
    """What sg_keras uses of a fastText model: words, counts and matrices.

    ``input_matrix`` [len(words) + buckets, dim]: the word rows, then the n-gram
    buckets' rows (``ngram_matrix``); ``output_matrix``: one row per word when the
    loss scores words (ns, softmax), else None.
    """

    words: list
    counts: np.ndarray
    min_n: int
    max_n: int
    buckets: int
    input_matrix: np.ndarray
    output_matrix: np.ndarray = None

    @property
    def ngram_matrix(self):
        return self.input_matrix[len(self.words):]


def is_fasttext_model(path):
    """Whether the file starts with fastText's magic number."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return len(head) == 4 and struct.unpack("<i", head)[0] == MAGIC


class _Reader:
    def __init__(self, path, data):
        self.path, self.data, self.position = path, data, 0

    def unpack(self, layout):
        end = self.position + layout.size
        if end > len(self.data):
            raise UsageError(f"{self.path}: truncated fastText model (at byte {self.position:,})")
        values = layout.unpack_from(self.data, self.position)
        self.position = end
        return values

    def word(self):
        end = self.data.find(b"\0", self.position)
        if end < 0:
            raise UsageError(f"{self.path}: truncated fastText model (in its dictionary)")
        word = self.data[self.position:end].decode("utf-8", errors="replace")
        self.position = end + 1
        return word

    def flag(self):
        return bool(self.unpack(struct.Struct("<?"))[0])

    def matrix(self, what):
        rows, columns = self.unpack(_MATRIX)
        size = rows * columns * 4
        if rows < 0 or columns < 1 or self.position + size > len(self.data):
            raise UsageError(f"{self.path}: truncated fastText model (its {what} matrix of "
                             f"{rows:,} x {columns:,} floats)")
        matrix = np.frombuffer(self.data, "<f4", rows * columns, self.position)
        self.position += size
        return matrix.reshape(rows, columns)


def load(path):
    """The FastTextModel of a fastText ``.bin``; UsageError for a foreign, truncated,
    quantized or pruned file. The matrices are views of the file's bytes, read once."""
    try:
        size = os.path.getsize(path)
        process.check_memory(size, f"reading {path}")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    reader = _Reader(path, data)
    magic, version = reader.unpack(struct.Struct("<2i"))
    if magic != MAGIC:
        raise UsageError(f"{path}: not a fastText model (no fastText magic number)")
    if not 11 <= version <= LATEST_VERSION:
        raise UsageError(f"{path}: fastText model format version {version} is not supported "
                         f"(11 … {LATEST_VERSION})")
    (dim, _, _, _, _, _, loss, _, buckets, min_n, max_n, _, _) = reader.unpack(_ARGS)
    entries, nwords, _, _, pruned = reader.unpack(_DICTIONARY)
    if not 0 < nwords <= entries:
        raise UsageError(f"{path}: malformed fastText dictionary ({nwords} words of {entries})")
    words, counts = [], []
    for _ in range(entries):
        word = reader.word()
        count, kind = reader.unpack(_ENTRY)
        if kind == 0:
            words.append(word)
            counts.append(count)
    if pruned > 0:  # (-1 when not pruned)
        raise UsageError(f"{path}: a pruned (quantized) fastText model is not supported")
    if reader.flag():
        raise UsageError(f"{path}: a quantized fastText model (.ftz) is not supported")
    input_matrix = reader.matrix("input")
    expected_rows = nwords + (buckets if max_n else 0)
    if input_matrix.shape != (expected_rows, dim) or len(words) != nwords:
        raise UsageError(f"{path}: malformed fastText model: its input matrix is "
                         f"{input_matrix.shape[0]:,} x {input_matrix.shape[1]}, its settings "
                         f"say {expected_rows:,} x {dim}")
    output_matrix = None
    if reader.flag():
        raise UsageError(f"{path}: a quantized fastText model (.ftz) is not supported")
    output = reader.matrix("output")
    if _LOSSES.get(loss) in ("ns", "softmax") and output.shape == (nwords, dim):
        output_matrix = output
    if max_n == 0:
        buckets = 0
    return FastTextModel(words, np.array(counts, np.int64), min_n, max_n, buckets,
                         input_matrix, output_matrix)
