"""Word vectors as users query them: words, their vectors, neighbours and evaluation.

:class:`WordVectors` holds the vectors of a trained model_dir, of any word2vec
text or binary file (gensim, word2vec.c) or of a fastText ``.bin``, most frequent
word first. With subwords (a model trained with ``--max_n``, a fastText model) it
also has the n-gram buckets' vectors, and a word it has not seen gets the mean of
its character n-grams' vectors (sg_keras.subwords), as fastText's and gensim's do.
"""

import numpy as np
import tensorflow as tf

from sg_keras import evaluation, fasttext_format, neighbours, subwords, vectors
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

    With ``ngram_vectors`` [buckets, d] and the n-gram lengths ``min_n`` … ``max_n``,
    a word not in ``words`` gets the mean of its n-grams' vectors:

    >>> with_subwords = WordVectors(["king"], [[1.0, 0.0]], ngram_vectors=np.ones((5, 2)),
    ...                             min_n=3, max_n=4)
    >>> "kings" in with_subwords, with_subwords["kings"].tolist()
    (False, [1.0, 1.0])
    """

    def __init__(self, words, vectors, ngram_vectors=None, min_n=0, max_n=0):
        self.words = list(words)
        self.vectors = np.asarray(vectors, np.float32)
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.words):
            raise ValueError(f"expected {len(self.words)} vectors, got an array of shape "
                             f"{self.vectors.shape}")
        self.index = {}
        for i, word in enumerate(self.words):
            self.index.setdefault(word, i)
        self.ngram_vectors = ngram_vectors
        self.min_n, self.max_n = min_n, max_n
        self._inverse_norms = None

    @classmethod
    def load(cls, path):
        """The vectors of a word2vec text or binary file or of a fastText ``.bin`` model
        (with its n-grams), the format detected from the content."""
        if fasttext_format.is_fasttext_model(path):
            model = fasttext_format.load(path)
            return cls.from_fasttext(model)
        return cls(*vectors.load_word2vec(path))

    @classmethod
    def from_fasttext(cls, model):
        """The vectors of a fasttext_format.FastTextModel: each word's the mean of its own
        and its n-grams' rows, as fastText's ``get_word_vector``."""
        if not model.max_n:
            return cls(model.words, model.input_matrix)
        pieces = subwords.word_pieces(model.words, model.min_n, model.max_n, model.buckets)
        return cls(model.words, subwords.vocabulary_vectors(model.input_matrix, pieces).numpy(),
                   model.ngram_matrix, model.min_n, model.max_n)

    @classmethod
    def from_model_dir(cls, path):
        """The word vectors (hidden layer) of a trained model_dir, and its n-grams' vectors
        when it was trained with subwords."""
        trained = ModelDir(path).load()
        model = trained.model
        if model.subwords is None:
            return cls(trained.vocab.words, model.word_vectors())
        return cls(trained.vocab.words, model.word_vectors(), model.ngram_vectors(),
                   model.subwords["min_n"], model.subwords["max_n"])

    @property
    def has_subwords(self):
        """Whether words not in the vocabulary get vectors from their n-grams."""
        return self.ngram_vectors is not None

    def unseen_vectors(self, words):
        """(vectors [N, d], has_ngrams [N]) of words not in the vocabulary: the mean of
        their n-grams' vectors (zeros, and False, without subwords or n-grams)."""
        words = list(words)
        if not self.has_subwords or not words:
            return (np.zeros((len(words), self.vectors.shape[1]), np.float32),
                    np.zeros(len(words), bool))
        vectors, found = subwords.unseen_word_vectors(tf.constant(words, tf.string),
                                                      self.ngram_vectors, self.min_n, self.max_n)
        return vectors.numpy(), found.numpy()

    def has_vector(self, word):
        """Whether ``word`` is in the vocabulary or has n-grams to compose a vector from."""
        return word in self.index or bool(self.unseen_vectors([word])[1][0])

    def save(self, path, binary=False):
        """Writes a word2vec file, text or (``binary``) word2vec.c's binary format."""
        save = vectors.save_word2vec_binary if binary else vectors.save_word2vec_text
        save(path, self.words, self.vectors)

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __getitem__(self, word):
        """The vector of ``word``: its row, or from its n-grams (KeyError if neither)."""
        if word in self.index:
            return self.vectors[self.index[word]]
        vectors, found = self.unseen_vectors([word])
        if not found[0]:
            raise KeyError(f"{word!r} is not in the vocabulary"
                           + (" and has no character n-grams" if self.has_subwords else ""))
        return vectors[0]

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
        """[(word, cosine)] of the ``topn`` words nearest ``word`` (KeyError if it has no
        vector); a word not in the vocabulary is placed by its n-grams."""
        if word not in self.index:
            return self.similar_by_vector(self[word], topn)
        (ids,), (scores,) = self.nearest([self.index[word]], topn)
        return [(self.words[i], float(score)) for i, score in zip(ids, scores)]

    def similar_by_vector(self, vector, topn=10):
        """[(word, cosine)] of the ``topn`` words nearest ``vector`` [d]."""
        query = tf.constant(np.asarray(vector, np.float32)[None, :])
        unit = query * neighbours.inverse_norms(query)[:, None]
        best = tf.math.top_k(neighbours.cosines(self.vectors, self.inverse_norms, unit),
                             min(topn, len(self.words)))
        return [(self.words[i], float(score))
                for i, score in zip(best.indices[0].numpy(), best.values[0].numpy())]

    def evaluate_word_analogies(self, path, restrict_vocab=30000, method="3cosadd"):
        """Analogy accuracy (evaluation.AnalogyResult), as gensim's method of this name."""
        return evaluation.analogies(self, path, restrict_vocab, method)

    def evaluate_word_pairs(self, path, restrict_vocab=300000):
        """Correlation with human similarity scores (evaluation.SimilarityResult), as gensim's."""
        return evaluation.word_pairs(self, path, restrict_vocab)
