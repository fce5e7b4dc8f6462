"""Word vectors: word2vec text format, and nearest neighbours by cosine similarity."""

import io

import numpy as np

from sg_keras.io_utils import atomic_write_text


def save_word2vec_text(path, words, matrix):
    """Writes ``V d`` then ``word x1 … xd`` per line (gensim's load_word2vec_format reads it)."""
    buffer = io.StringIO()
    np.savetxt(buffer, matrix, fmt="%.6g")
    rows = buffer.getvalue().splitlines()
    body = "".join(f"{word} {row}\n" for word, row in zip(words, rows))
    atomic_write_text(path, f"{len(words)} {matrix.shape[1]}\n{body}")


def unit_rows(matrix):
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def nearest(unit_matrix, word_id, k=10):
    """The k word ids most cosine-similar to word_id (itself excluded), with scores."""
    scores = unit_matrix @ unit_matrix[word_id]
    scores[word_id] = -np.inf
    k = min(k, len(scores) - 1)
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return best, scores[best]
