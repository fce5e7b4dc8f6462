"""sg_keras.WordVectors against gensim's KeyedVectors on the same vectors."""

import numpy as np
import pytest
from gensim.models import KeyedVectors

from sg_keras.word_vectors import WordVectors, parse_query

QUERIES_PER_METHOD = 100  # five methods: 500 random queries


@pytest.fixture(scope="module")
def both():
    """(ours, gensim's) on 3,000 clustered random vectors of 40 dimensions."""
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(30, 40))
    matrix = (centres[rng.integers(0, 30, 3000)] + rng.normal(scale=0.7, size=(3000, 40)))
    matrix = matrix.astype(np.float32)
    words = [f"w{i}" for i in range(len(matrix))]
    keyed = KeyedVectors(40)
    keyed.add_vectors(words, matrix)
    return WordVectors(words, matrix), keyed


def assert_same_ranking(ours, theirs):
    assert [word for word, _ in ours] == [word for word, _ in theirs]
    np.testing.assert_allclose([score for _, score in ours], [score for _, score in theirs],
                               atol=1e-4)


def random_words(rng, words, low, high):
    return [words[i] for i in rng.choice(len(words), rng.integers(low, high + 1), replace=False)]


def test_most_similar_equals_gensims_on_random_queries(both):
    ours, keyed = both
    rng = np.random.default_rng(0)
    for _ in range(QUERIES_PER_METHOD):
        positive = random_words(rng, ours.index_to_key, 1, 3)
        negative = random_words(rng, ours.index_to_key, 0, 2)
        if rng.random() < 0.3:  # (word, weight) pairs and a vector among the terms
            positive = [(positive[0], float(rng.uniform(0.5, 2))), *positive[1:],
                        rng.normal(size=40).astype(np.float32)]
        options = dict(topn=int(rng.integers(1, 20)))
        if rng.random() < 0.3:
            options["restrict_vocab"] = int(rng.integers(100, 3000))
        assert_same_ranking(ours.most_similar(positive, negative, **options),
                            keyed.most_similar(positive, negative, **options))


def test_most_similar_cosmul_equals_gensims_on_random_queries(both):
    ours, keyed = both
    rng = np.random.default_rng(1)
    for _ in range(QUERIES_PER_METHOD):
        positive = random_words(rng, ours.index_to_key, 1, 3)
        negative = random_words(rng, ours.index_to_key, 0, 2)
        topn = int(rng.integers(1, 20))
        assert_same_ranking(ours.most_similar_cosmul(positive, negative, topn=topn),
                            keyed.most_similar_cosmul(positive, negative, topn=topn))


def test_doesnt_match_similarity_and_n_similarity_equal_gensims(both):
    ours, keyed = both
    rng = np.random.default_rng(2)
    for _ in range(QUERIES_PER_METHOD):
        words = random_words(rng, ours.index_to_key, 3, 8)
        assert ours.doesnt_match(words) == keyed.doesnt_match(words)
        first, second = random_words(rng, ours.index_to_key, 2, 2)
        assert ours.similarity(first, second) == pytest.approx(
            keyed.similarity(first, second), abs=1e-6)
        assert ours.distance(first, second) == pytest.approx(
            keyed.distance(first, second), abs=1e-6)
        ws1, ws2 = (random_words(rng, ours.index_to_key, 1, 4) for _ in range(2))
        assert ours.n_similarity(ws1, ws2) == pytest.approx(keyed.n_similarity(ws1, ws2),
                                                            abs=1e-6)


def test_the_other_queries_equal_gensims(both):
    ours, keyed = both
    assert ours.index_to_key == keyed.index_to_key and ours.key_to_index == keyed.key_to_index
    assert len(ours) == len(keyed) and ours.vector_size == keyed.vector_size == 40
    np.testing.assert_array_equal(ours.get_vector("w5", norm=True), keyed.get_vector("w5", norm=True))
    np.testing.assert_array_equal(ours[["w1", "w2"]], keyed[["w1", "w2"]])
    np.testing.assert_allclose(ours.get_mean_vector(["w1", "w2"], [1.0, -0.5]),
                               keyed.get_mean_vector(["w1", "w2"], [1.0, -0.5]), atol=1e-7)
    vector = keyed.vectors[7] + 0.1
    assert_same_ranking(ours.similar_by_vector(vector, topn=5), keyed.similar_by_vector(vector, topn=5))
    assert_same_ranking(ours.similar_by_word("w9", topn=5), keyed.similar_by_word("w9", topn=5))
    np.testing.assert_allclose(ours.most_similar("w3", topn=None), keyed.most_similar("w3", topn=None),
                               atol=1e-6)
    np.testing.assert_allclose(ours.distances("w3"), keyed.distances("w3"), atol=1e-6)
    np.testing.assert_allclose(ours.distances("w3", ["w4", "w8"]), keyed.distances("w3", ["w4", "w8"]),
                               atol=1e-6)
    assert ours.closer_than("w3", "w40") == keyed.closer_than("w3", "w40")
    assert ours.rank("w3", "w40") == keyed.rank("w3", "w40") > 1
    np.testing.assert_allclose(WordVectors.cosine_similarities(vector, keyed.vectors[:9]),
                               KeyedVectors.cosine_similarities(vector, keyed.vectors[:9]), atol=1e-6)


def test_a_zero_vector_scores_zero_instead_of_nan():
    word_vectors = WordVectors(["a", "b", "zero"], [[1.0, 0.0], [0.6, 0.8], [0.0, 0.0]])
    assert word_vectors.most_similar("a") == [("b", pytest.approx(0.6)), ("zero", 0.0)]


def test_mistakes_raise_errors_naming_them(both):
    ours, _ = both
    with pytest.raises(KeyError, match="'nope' is not in the vocabulary"):
        ours.most_similar(["w1", "nope"])
    with pytest.raises(KeyError, match="'nope'"):
        ours.similarity("w1", "nope")
    with pytest.raises(KeyError, match="'nope'"):
        ours.n_similarity(["w1"], ["nope"])
    with pytest.raises(ValueError, match="at least one positive"):
        ours.most_similar(positive=[], negative=["w1"])
    with pytest.raises(ValueError, match="at least one positive"):
        ours.most_similar_cosmul(negative=["w1"])
    for topn in (0, -3, 2.5):
        with pytest.raises(ValueError, match="topn must be a positive integer"):
            ours.most_similar("w1", topn=topn)
    with pytest.raises(ValueError, match="none of the words"):
        ours.doesnt_match(["nope", "neither"])
    with pytest.raises(ValueError, match="non-empty"):
        ours.n_similarity([], ["w1"])


@pytest.mark.parametrize("binary", [False, True])
def test_load_and_save_round_trip_with_gensim(tmp_path, both, binary):
    ours, keyed = both
    path = str(tmp_path / ("vectors.bin" if binary else "vectors.txt"))
    ours.save(path, binary=binary)
    theirs = KeyedVectors.load_word2vec_format(path, binary=binary, limit=500)
    loaded = WordVectors.load(path, limit=500)
    assert loaded.index_to_key == theirs.index_to_key == ours.index_to_key[:500]
    np.testing.assert_allclose(loaded.vectors, theirs.vectors, rtol=1e-5)
    assert_same_ranking(loaded.most_similar("w2"), theirs.most_similar("w2"))
    keyed.save_word2vec_format(path, binary=binary)  # gensim's file, read by us
    np.testing.assert_allclose(WordVectors.load(path).vectors, keyed.vectors, rtol=1e-5)


def test_unseen_words_have_vectors_from_their_ngrams():
    rng = np.random.default_rng(3)
    word_vectors = WordVectors(["king", "queen"], rng.normal(size=(2, 4)),
                               ngram_vectors=rng.normal(size=(50, 4)), min_n=3, max_n=4)
    assert "kings" in word_vectors and not word_vectors.has_index_for("kings")
    composed = word_vectors["kings"]
    cosines = {word: float(np.dot(composed, word_vectors[word]) / np.linalg.norm(composed)
                           / np.linalg.norm(word_vectors[word])) for word in ("king", "queen")}
    expected = sorted(cosines.items(), key=lambda item: -item[1])
    assert_same_ranking(word_vectors.most_similar("kings"), expected)  # not left out: unseen
    assert word_vectors.similarity("kings", "king") == pytest.approx(cosines["king"], abs=1e-6)
    assert "" not in word_vectors  # no n-gram at all
    with pytest.raises(KeyError, match="has no character n-grams"):
        word_vectors.get_vector("")


@pytest.mark.parametrize("query, expected", [
    ("king - man + woman", (["king", "woman"], ["man"])),
    ("new york - america", (["new york"], ["america"])),
    ("+ paris", (["paris"], [])),
])
def test_parse_query(query, expected):
    assert parse_query(query) == expected


@pytest.mark.parametrize("query, message", [
    ("", "expected a word at the end"),
    ("king -", "expected a word at the end"),
    ("king + - man", "expected a word before '-'"),
    ("- king", "no positive word"),
])
def test_parse_query_refuses_malformed_queries(query, message):
    with pytest.raises(ValueError, match=message):
        parse_query(query)


@pytest.mark.parametrize("size, n", [(5000, 1), (5000, 11), (5000, 78), (5000, 79), (100, 50),
                                     (64, 1), (63, 3)])
def test_the_best_rows_are_a_full_sorts_first_rows_ties_by_row(size, n):
    from sg_keras.word_vectors import _best

    rng = np.random.default_rng(size + n)
    for scores in (rng.standard_normal(size).astype(np.float32),
                   rng.integers(0, 20, size).astype(np.float32)):  # many ties
        np.testing.assert_array_equal(_best(scores, n),
                                      np.argsort(-scores, kind="stable")[:n])
