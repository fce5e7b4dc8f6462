"""Word vectors as users query them: gensim 4's KeyedVectors API, on sg_keras's vectors.

:class:`WordVectors` holds the vectors of a trained model_dir, of any word2vec text
or binary file (gensim, word2vec.c, fastText's ``.vec``) or of a fastText ``.bin``,
most frequent word first. Its queries have gensim's names, signatures and results
(``most_similar``, ``most_similar_cosmul``, ``doesnt_match``, ``similarity``, …),
computed with numpy in gensim's order of operations, so that the same vectors give
the same words in the same order. With subwords (a model trained with ``--max_n``,
a fastText model) a word it has not seen gets the mean of its character n-grams'
vectors (sg_keras.subwords), as gensim's FastTextKeyedVectors does.

Where gensim is lenient with a mistake, these are strict: ``topn`` below 1 and a
query without a positive word raise ValueError (gensim returns [] or ranks by the
negative words alone).
"""

import functools
from numbers import Integral

import numpy as np
import tensorflow as tf

from sg_keras import evaluation, fasttext_format, subwords, vectors
from sg_keras.model_dir import ModelDir

_COSMUL_EPSILON = 1e-6  # gensim's most_similar_cosmul: keeps the quotient finite


class WordVectors:
    """Words and their vectors [V, d], row i for ``index_to_key[i]``, most frequent first.

    Example:

    >>> import numpy as np
    >>> word_vectors = WordVectors(["king", "queen", "man", "woman", "apple"],
    ...                            [[1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1], [-1, 0, 0]])
    >>> [(word, round(score, 3)) for word, score in word_vectors.most_similar(
    ...     positive=["king", "woman"], negative=["man"], topn=1)]
    [('queen', 0.959)]
    >>> word_vectors.doesnt_match(["king", "queen", "apple"])
    'apple'
    >>> "queen" in word_vectors, word_vectors["apple"].tolist()
    (True, [-1.0, 0.0, 0.0])

    With ``ngram_vectors`` [buckets, d] and the n-gram lengths ``min_n`` … ``max_n``,
    a word not in ``index_to_key`` gets the mean of its n-grams' vectors:

    >>> with_subwords = WordVectors(["king"], [[1.0, 0.0]], ngram_vectors=np.ones((5, 2)),
    ...                             min_n=3, max_n=4)
    >>> with_subwords.has_index_for("kings"), with_subwords["kings"].tolist()
    (False, [1.0, 1.0])
    """

    def __init__(self, index_to_key, vectors, ngram_vectors=None, min_n=0, max_n=0):
        self.index_to_key = list(index_to_key)
        self.vectors = np.asarray(vectors, np.float32)
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.index_to_key):
            raise ValueError(f"expected {len(self.index_to_key)} vectors, got an array of "
                             f"shape {self.vectors.shape}")
        self.key_to_index = {}
        for i, key in enumerate(self.index_to_key):
            self.key_to_index.setdefault(key, i)
        self.ngram_vectors = ngram_vectors
        self.min_n, self.max_n = min_n, max_n
        self._norms = None

    # Loading and saving.

    @classmethod
    def load(cls, path, limit=None):
        """The vectors of a word2vec text or binary file (fastText's ``.vec`` is one) or
        of a fastText ``.bin`` model (with its n-grams), the format detected from the
        content; ``limit``: only the first that many words (of a word2vec file)."""
        if fasttext_format.is_fasttext_model(path):
            return cls.from_fasttext(fasttext_format.load(path))
        return cls(*vectors.load_word2vec(path, limit))

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

    def save(self, path, binary=False):
        """Writes a word2vec file, text or (``binary``) word2vec.c's binary format."""
        save = vectors.save_word2vec_binary if binary else vectors.save_word2vec_text
        save(path, self.index_to_key, self.vectors)

    # Words and their vectors.

    @property
    def vector_size(self):
        return self.vectors.shape[1]

    @property
    def has_subwords(self):
        """Whether words not in the vocabulary get vectors from their n-grams."""
        return self.ngram_vectors is not None

    @property
    def norms(self):
        """Each vector's Euclidean length [V] (float32, as gensim's ``fill_norms``)."""
        if self._norms is None:
            self._norms = np.linalg.norm(self.vectors, axis=1)
        return self._norms

    @functools.cached_property
    def _divisors(self):
        """What cosine_scores divides by: the norms, infinity for a zero vector (it scores 0)."""
        return np.where(self.norms > 0, self.norms, np.float32(np.inf))

    def __len__(self):
        return len(self.index_to_key)

    def has_index_for(self, key):
        """Whether ``key`` is in the vocabulary (has a row)."""
        return key in self.key_to_index

    def __contains__(self, key):
        """Whether ``key`` has a vector: a row, or (with subwords) character n-grams."""
        return self.has_index_for(key) or (
            self.has_subwords and bool(self.unseen_vectors([key])[1][0]))

    def get_index(self, key):
        """The row of ``key``; KeyError naming it if it has none."""
        try:
            return self.key_to_index[key]
        except (KeyError, TypeError):
            raise KeyError(f"{key!r} is not in the vocabulary") from None

    def unseen_vectors(self, keys):
        """(vectors [N, d], has_ngrams [N]) of words not in the vocabulary: the mean of
        their n-grams' vectors (zeros, and False, without subwords or n-grams)."""
        keys = list(keys)
        if not self.has_subwords or not keys:
            return (np.zeros((len(keys), self.vector_size), np.float32),
                    np.zeros(len(keys), bool))
        found_vectors, found = subwords.unseen_word_vectors(
            tf.constant(keys, tf.string), self.ngram_vectors, self.min_n, self.max_n)
        return found_vectors.numpy(), found.numpy()

    def get_vector(self, key, norm=False):
        """The vector of ``key`` [d] (read-only), of unit length with ``norm``: its row, or
        from its n-grams; KeyError naming it if it has neither."""
        if key in self.key_to_index:
            index = self.key_to_index[key]
            result = (self.vectors[index] / self.norms[index]) if norm else self.vectors[index]
        else:
            composed, found = self.unseen_vectors([key]) if isinstance(key, str) else ([], [0])
            if not found[0]:
                raise KeyError(f"{key!r} is not in the vocabulary"
                               + (" and has no character n-grams" if self.has_subwords else ""))
            result = _unit(composed[0]) if norm else composed[0]
        result.setflags(write=False)
        return result

    def __getitem__(self, key_or_keys):
        """The vector of a key [d], or of a list of keys [N, d]."""
        if isinstance(key_or_keys, str):
            return self.get_vector(key_or_keys)
        return np.vstack([self.get_vector(key) for key in key_or_keys])

    def get_mean_vector(self, keys, weights=None, pre_normalize=True, post_normalize=False,
                        ignore_missing=True):
        """The weighted mean of the vectors of ``keys`` (words or vectors [d]), each of unit
        length first with ``pre_normalize``, the mean too with ``post_normalize``.

        Example:

        >>> WordVectors(["a", "b"], [[2.0, 0.0], [0.0, 1.0]]).get_mean_vector(["a", "b"]).tolist()
        [0.5, 0.5]
        """
        if len(keys) == 0:
            raise ValueError("cannot compute the mean of no vectors")
        if weights is None or isinstance(weights, list):  # (an array keeps its dtype, as in gensim)
            weights = np.asarray(np.ones(len(keys)) if weights is None else weights,
                                 self.vectors.dtype)
        if len(keys) != len(weights):
            raise ValueError(f"{len(keys)} keys but {len(weights)} weights")
        mean = np.zeros(self.vector_size, self.vectors.dtype)
        total_weight = 0
        for key, weight in zip(keys, weights):
            if isinstance(key, np.ndarray):
                mean += weight * key
            elif ignore_missing and key not in self:
                continue
            else:
                mean += weight * self.get_vector(key, norm=pre_normalize)
            total_weight += abs(weight)
        if total_weight > 0:
            mean = mean / total_weight
        return _unit(mean) if post_normalize else mean

    def get_normed_vectors(self, restrict_vocab=None):
        """The first ``restrict_vocab`` (default: all) vectors scaled to unit length (a copy;
        a zero vector stays zero)."""
        end = restrict_vocab or len(self)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num(self.vectors[:end] / self.norms[:end, None], nan=0.0)

    # Similarity queries.

    def cosine_scores(self, queries, clip_start=0, clip_end=None):
        """The dot product of each query (queries [d] or [N, d]) with each word's vector of
        rows ``clip_start`` … ``clip_end``, divided by that vector's length: the cosine for
        a query of unit length. Returns [V] or [N, V]; a zero vector scores 0."""
        rows = slice(clip_start, clip_end or len(self))
        return np.dot(self.vectors[rows], np.asarray(queries, np.float32).T).T / self._divisors[rows]

    def cosmul_scores(self, positive, negative, restrict_vocab=None, epsilon=_COSMUL_EPSILON):
        """Levy and Goldberg's 3CosMul of every word: the product of its cosines (shifted to
        [0, 1]) with the ``positive`` unit vectors ([P, d], or [P, N, d] for N queries) over
        that with the ``negative`` ones plus ``epsilon``; [V] or [N, V]."""
        def shifted(terms):
            return [(1 + self.cosine_scores(term, clip_end=restrict_vocab)) / 2 for term in terms]

        return (np.prod(shifted(positive), axis=0)
                / (np.prod(shifted(negative), axis=0) + epsilon))

    def most_similar(self, positive=None, negative=None, topn=10, clip_start=0, clip_end=None,
                     restrict_vocab=None):
        """[(word, cosine)] of the ``topn`` words nearest the mean of the unit vectors of
        ``positive`` minus ``negative`` (words, vectors [d] or (word, weight) pairs), the
        query words themselves left out; all words' scores [V] with ``topn=None``.

        Only rows ``clip_start`` … ``clip_end`` are searched, or the first
        ``restrict_vocab``. A word not in the vocabulary is placed by its n-grams.

        Example:

        >>> WordVectors(["a", "b", "c"], [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]).most_similar("a")
        [('b', 0.800000011920929), ('c', 0.0)]
        """
        _check_topn(topn)
        positive, negative = _as_list(positive), _as_list(negative)
        if not positive:
            raise ValueError("a similarity query needs at least one positive word or vector")
        if restrict_vocab:
            clip_start, clip_end = 0, restrict_vocab
        clip_end = clip_end or len(self)
        keys = []
        weights = np.concatenate([np.ones(len(positive)), -np.ones(len(negative))])
        for i, item in enumerate(positive + negative):
            if isinstance(item, tuple):
                keys.append(item[0])
                weights[i] = item[1]
            else:
                keys.append(item)
        mean = self.get_mean_vector(keys, weights, pre_normalize=True, post_normalize=True,
                                    ignore_missing=False)
        query_rows = {self.key_to_index[key] for key in keys
                      if not isinstance(key, np.ndarray) and self.has_index_for(key)}
        scores = self.cosine_scores(mean, clip_start, clip_end)
        if topn is None:
            return scores
        return [(self.index_to_key[row + clip_start], float(scores[row]))
                for row in _best(scores, topn + len(query_rows))
                if row + clip_start not in query_rows][:topn]

    def similar_by_word(self, word, topn=10, restrict_vocab=None):
        """most_similar of one word."""
        return self.most_similar(positive=[word], topn=topn, restrict_vocab=restrict_vocab)

    similar_by_key = similar_by_word

    def similar_by_vector(self, vector, topn=10, restrict_vocab=None):
        """most_similar of one vector [d]."""
        return self.most_similar(positive=[np.asarray(vector, np.float32)], topn=topn,
                                 restrict_vocab=restrict_vocab)

    def most_similar_cosmul(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """[(word, score)] of the ``topn`` words best by 3CosMul (cosmul_scores) with the
        unit vectors of ``positive`` and ``negative`` (words or vectors [d]), the query
        words left out; all scores [V] with ``topn=None``.

        Example:

        >>> word_vectors = WordVectors(["king", "queen", "man", "woman"],
        ...                            [[1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1]])
        >>> word_vectors.most_similar_cosmul(["king", "woman"], ["man"], topn=1)[0][0]
        'queen'
        """
        _check_topn(topn)
        positive, negative = _as_list(positive), _as_list(negative)
        if not positive:
            raise ValueError("a similarity query needs at least one positive word or vector")
        query_rows = {self.key_to_index[key] for key in positive + negative
                      if not isinstance(key, np.ndarray) and self.has_index_for(key)}

        def unit_terms(terms):
            return [term if isinstance(term, np.ndarray) else self.get_vector(term, norm=True)
                    for term in terms]

        scores = self.cosmul_scores(unit_terms(positive), unit_terms(negative), restrict_vocab)
        if topn is None:
            return scores
        return [(self.index_to_key[row], float(scores[row]))
                for row in _best(scores, topn + len(query_rows)) if row not in query_rows][:topn]

    def rank_by_centrality(self, words, use_norm=True):
        """[(cosine, word)] of ``words`` (those with a vector) by cosine with their mean
        unit vector, most central first."""
        used = [word for word in words if word in self]
        if not used:
            raise ValueError("none of the words has a vector")
        word_matrix = np.vstack([self.get_vector(word, norm=use_norm) for word in used])
        mean = self.get_mean_vector(word_matrix, post_normalize=True)
        return sorted(zip(np.dot(word_matrix, mean), used), reverse=True)

    def doesnt_match(self, words):
        """The word of ``words`` furthest from their mean (words without a vector ignored).

        Example:

        >>> WordVectors(["a", "b", "c"], [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]).doesnt_match("abc")
        'c'
        """
        return self.rank_by_centrality(list(words))[-1][1]

    @staticmethod
    def cosine_similarities(vector_1, vectors_all):
        """Cosine of ``vector_1`` [d] with each row of ``vectors_all`` [N, d]: [N]."""
        norm = np.linalg.norm(vector_1)
        all_norms = np.linalg.norm(vectors_all, axis=1)
        return np.dot(vectors_all, vector_1) / (norm * all_norms)

    def distances(self, word_or_vector, other_words=()):
        """1 − cosine of a word or vector with each of ``other_words`` (default: every word)."""
        if isinstance(word_or_vector, str):
            word_or_vector = self.get_vector(word_or_vector)
        others = (self.vectors if not other_words
                  else self.vectors[[self.get_index(word) for word in other_words]])
        return 1 - self.cosine_similarities(word_or_vector, others)

    def distance(self, w1, w2):
        """1 − similarity(w1, w2)."""
        return 1 - self.similarity(w1, w2)

    def similarity(self, w1, w2):
        """The cosine of the vectors of two words.

        Example:

        >>> round(float(WordVectors(["a", "b"], [[1.0, 0.0], [1.0, 1.0]]).similarity("a", "b")), 4)
        0.7071
        """
        return np.dot(_unit(self[w1]), _unit(self[w2]))

    def n_similarity(self, ws1, ws2):
        """The cosine of the means of two lists of words' vectors."""
        if not (len(ws1) and len(ws2)):
            raise ValueError("n_similarity needs two non-empty lists of words")
        mean1 = self.get_mean_vector(ws1, pre_normalize=False, ignore_missing=False)
        mean2 = self.get_mean_vector(ws2, pre_normalize=False, ignore_missing=False)
        return np.dot(_unit(mean1), _unit(mean2))

    def closer_than(self, key1, key2):
        """The words closer to ``key1`` than ``key2`` is, by cosine, in row order."""
        all_distances = self.distances(key1)
        row1, row2 = self.get_index(key1), self.get_index(key2)
        closer = np.flatnonzero(all_distances < all_distances[row2])
        return [self.index_to_key[row] for row in closer if row != row1]

    def rank(self, key1, key2):
        """The rank of ``key2`` among the words nearest ``key1`` (1: the nearest)."""
        return len(self.closer_than(key1, key2)) + 1

    # Evaluation.

    def evaluate_word_analogies(self, path, restrict_vocab=30000, method="3cosadd"):
        """Analogy accuracy (evaluation.AnalogyResult), as gensim's method of this name; its
        ``score`` and ``sections`` are gensim's (score, sections)."""
        return evaluation.analogies(self, path, restrict_vocab, method)

    def evaluate_word_pairs(self, path, restrict_vocab=300000):
        """Correlation with human similarity scores (evaluation.SimilarityResult), as gensim's."""
        return evaluation.word_pairs(self, path, restrict_vocab)


def parse_query(expression):
    """(positive terms, negative terms) of a query such as ``king - man + woman``.

    ``+`` and ``-`` standing alone (between spaces) are the operators; the words between
    two operators make one term (``new york - america``: the term ``new york``, which
    a phrase table may join). ValueError for an empty or malformed query, or one
    without a positive term.

    Example:

    >>> parse_query("king - man + woman")
    (['king', 'woman'], ['man'])
    """
    positive, negative = [], []
    sign, term = "+", []
    for position, token in enumerate([*expression.split(), None]):  # None: the end
        if token not in ("+", "-", None):
            term.append(token)
            continue
        if term:
            (positive if sign == "+" else negative).append(" ".join(term))
        elif token is None or position > 0:  # (only the first term may have a sign)
            raise ValueError(f"malformed query {expression!r}: expected a word "
                             + ("at the end" if token is None else f"before {token!r}"))
        sign, term = token, []
    if not positive:
        raise ValueError(f"query {expression!r} has no positive word")
    return positive, negative


def _as_list(terms):
    """A query's words: a single word or vector stands for a list of it."""
    if terms is None:
        return []
    if isinstance(terms, (str, np.ndarray)):
        return [terms]
    return list(terms)


def _check_topn(topn):
    if topn is not None and (not isinstance(topn, Integral) or topn < 1):
        raise ValueError(f"topn must be a positive integer or None, got {topn!r}")


_BLOCK = 64  # scores per block in _best's bound


def _best(scores, n):
    """The rows of the ``n`` highest ``scores``, highest first (as gensim's matutils.argsort;
    ties by row).

    A lower bound of the n-th highest score, the n-th highest of the maxima of blocks of 64
    scores (n blocks each hold a score at least that high), leaves few candidates to sort:
    a few times faster than numpy's argpartition of all of them.
    """
    blocks = scores.size // _BLOCK
    if blocks < n:
        return np.argsort(-scores, kind="stable")[:n]
    maxima = scores[:blocks * _BLOCK].reshape(blocks, _BLOCK).max(axis=1)
    bound = np.partition(maxima, blocks - n)[blocks - n]
    candidates = np.flatnonzero(scores >= bound)
    return candidates[np.argsort(-scores[candidates], kind="stable")[:n]]


def _unit(vector):
    """``vector`` scaled to unit length in float64, then float32 (gensim's matutils.unitvec);
    unchanged if zero."""
    wide = np.asarray(vector, np.float64)
    length = np.linalg.norm(wide)
    return (wide * (1.0 / length)).astype(np.float32) if length > 0 else vector
