"""Word vectors as users query them: words, their vectors, neighbours and evaluation.

:class:`WordVectors` holds the vectors of a trained model_dir or of any word2vec
text or binary file (gensim, word2vec.c), most frequent word first.
"""

import numpy as np
import tensorflow as tf

from sg_keras import evaluation, neighbours, vectors
from sg_keras.model_dir import ModelDir


class WordVectors:
    """Words and their vectors [V, d], row i for ``words[i]``, most frequent first.

    Example:

    >>> import numpy as np
    >>> word_vectors = WordVectors(["king", "queen", "apple"],
    ...                            np.array([[1.0, 0.1], [0.9, 0.2], [0.0, 1.0]]))
    >>> [word for word, _ in word_vectors.most_similar("king", topn=2)]
    ['queen', 'apple']
    >>> "queen" in word_vectors, word_vectors["apple"].tolist()
    (True, [0.0, 1.0])
    """

    def __init__(self, words, vectors):
        self.words = list(words)
        self.vectors = np.asarray(vectors, np.float32)
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.words):
            raise ValueError(f"expected {len(self.words)} vectors, got an array of shape "
                             f"{self.vectors.shape}")
        self.index = {}
        for i, word in enumerate(self.words):
            self.index.setdefault(word, i)
        self._inverse_norms = None

    @classmethod
    def load(cls, path):
        """The vectors of a word2vec text or binary file (format detected from the content)."""
        return cls(*vectors.load_word2vec(path))

    @classmethod
    def from_model_dir(cls, path):
        """The word vectors (hidden layer) of a trained model_dir."""
        trained = ModelDir(path).load()
        return cls(trained.vocab.words, trained.model.word_vectors())

    def save(self, path, binary=False):
        """Writes a word2vec file, text or (``binary``) word2vec.c's binary format."""
        save = vectors.save_word2vec_binary if binary else vectors.save_word2vec_text
        save(path, self.words, self.vectors)

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __getitem__(self, word):
        return self.vectors[self.index[word]]

    @property
    def inverse_norms(self):
        """1 / each vector's length, computed once (neighbours.inverse_norms)."""
        if self._inverse_norms is None:
            self._inverse_norms = neighbours.inverse_norms(self.vectors)
        return self._inverse_norms

    def nearest(self, ids, k=10):
        """(row ids [N, k], cosines [N, k]) of the k words nearest each of rows ``ids``."""
        k = min(k, len(self.words) - 1)
        found, scores = neighbours.nearest(self.vectors, self.inverse_norms,
                                           tf.constant(ids, tf.int32), k)
        return found.numpy(), scores.numpy()

    def most_similar(self, word, topn=10):
        """[(word, cosine)] of the ``topn`` words nearest ``word`` (KeyError if unknown)."""
        (ids,), (scores,) = self.nearest([self.index[word]], topn)
        return [(self.words[i], float(score)) for i, score in zip(ids, scores)]

    def evaluate_word_analogies(self, path, restrict_vocab=30000, method="3cosadd"):
        """Analogy accuracy (evaluation.AnalogyResult), as gensim's method of this name."""
        return evaluation.analogies(self, path, restrict_vocab, method)

    def evaluate_word_pairs(self, path, restrict_vocab=300000):
        """Correlation with human similarity scores (evaluation.SimilarityResult), as gensim's."""
        return evaluation.word_pairs(self, path, restrict_vocab)
