import numpy as np
import tensorflow as tf
import pytest

from conftest import shared_file
from sg_keras import evaluation, neighbours, vectors
from sg_keras.errors import UsageError
from sg_keras.word_vectors import WordVectors

gensim_models = pytest.importorskip("gensim.models")


def planted_vectors(analogy_path, similarity_paths, dim=50, seed=0):
    """Vectors in which many (not all) analogies hold: b = a + offset of the section + noise.

    Words of the evaluation files come first in a shuffled order, filler words after,
    and a capitalised duplicate of some words tests case-insensitive matching.
    """
    rng = np.random.default_rng(seed)
    sections = evaluation.read_analogies(analogy_path)
    words = sorted({w.lower() for _, qs in sections for q in qs for w in q}
                   | {w.lower() for p in similarity_paths
                      for a, b, _ in evaluation.read_word_pairs(p) for w in (a, b)})
    rng.shuffle(words)
    words = words[:1500] + ["Athens", "Paris"] + words[1500:] + [f"filler{i}" for i in range(500)]
    vector = {w: rng.normal(size=dim) for w in words}
    for _, questions in sections:
        offset = rng.normal(size=dim)
        for a, b, _, _ in questions[::3]:
            vector[b.lower()] = vector[a.lower()] + offset + 0.3 * rng.normal(size=dim)
    return words, np.array([vector[w] for w in words], np.float32)


@pytest.fixture(scope="module")
def vector_file(tmp_path_factory):
    analogies = shared_file("questions-words.txt")
    similarity = [shared_file("word-sim/EN-WS-353-ALL.txt"), shared_file("word-sim/EN-SIMLEX-999.txt")]
    words, matrix = planted_vectors(str(analogies), [str(p) for p in similarity])
    path = tmp_path_factory.mktemp("vectors") / "planted.txt"
    vectors.save_word2vec_text(str(path), words, matrix)
    return path, analogies, similarity


@pytest.mark.parametrize("restrict", [30000, 1200])
def test_analogies_agree_with_gensim(vector_file, restrict):
    path, analogies, _ = vector_file
    ours = WordVectors.load(str(path)).evaluate_word_analogies(str(analogies),
                                                               restrict_vocab=restrict)
    keyed = gensim_models.KeyedVectors.load_word2vec_format(str(path))
    score, gensim_sections = keyed.evaluate_word_analogies(str(analogies), restrict_vocab=restrict)
    by_name = {s["section"]: s for s in gensim_sections}
    for section in ours.sections:
        theirs = by_name[section.name]
        assert section.correct == len(theirs["correct"]), section.name
        assert section.seen == len(theirs["correct"]) + len(theirs["incorrect"]), section.name
    assert 0 < ours.overall.correct < ours.overall.seen  # a mix of right and wrong answers
    assert ours.overall.accuracy == pytest.approx(score, abs=1e-6)
    assert ours.overall.total == 19544
    assert ours.semantic.total + ours.syntactic.total == 19544


def test_similarity_agrees_with_gensim(vector_file):
    path, _, similarity = vector_file
    ours = WordVectors.load(str(path))
    keyed = gensim_models.KeyedVectors.load_word2vec_format(str(path))
    for pairs_file in similarity:
        result = ours.evaluate_word_pairs(str(pairs_file))
        pearson, spearman, oov_ratio = keyed.evaluate_word_pairs(str(pairs_file))
        assert result.spearman == pytest.approx(spearman.statistic, abs=1e-6)
        assert result.pearson == pytest.approx(pearson.statistic, abs=1e-6)
        assert result.oov == pytest.approx(oov_ratio / 100 * (result.pairs + result.oov), abs=1e-6)


def test_3cosmul_agrees_with_gensim_most_similar_cosmul(vector_file):
    path, analogies, _ = vector_file
    words, matrix = vectors.load_word2vec(str(path))
    keyed = gensim_models.KeyedVectors.load_word2vec_format(str(path))
    questions = [q for _, qs in evaluation.read_analogies(str(analogies)) for q in qs[::97]]
    questions = [[w.lower() for w in q] for q in questions if all(w.lower() in keyed for w in q)]
    analogy_file = path.parent / "few.txt"
    analogy_file.write_text("".join(" ".join(q) + "\n" for q in questions))
    ours = WordVectors(words, matrix).evaluate_word_analogies(str(analogy_file),
                                                              method="3cosmul")
    expected = sum(keyed.most_similar_cosmul(positive=[b, c], negative=[a], topn=1)[0][0] == d
                   for a, b, c, d in questions)
    assert ours.overall.seen == len(questions) > 50
    assert ours.overall.correct == expected


def test_original_formats_read_the_same_pairs_as_the_uniform_suite():
    pairs = evaluation.read_word_pairs
    ws353 = pairs(str(shared_file("wordsim353/combined.csv")))
    uniform = pairs(str(shared_file("word-sim/EN-WS-353-ALL.txt")))
    lower = [[(a.lower(), b.lower(), s) for a, b, s in p] for p in (ws353, uniform)]
    assert lower[0] == lower[1] and len(uniform) == 353
    simlex = pairs(str(shared_file("SimLex-999/SimLex-999.txt")))
    assert simlex == pairs(str(shared_file("word-sim/EN-SIMLEX-999.txt"))) and len(simlex) == 999
    assert len(pairs(str(shared_file("MEN/MEN_dataset_natural_form_full")))) == 3000
    rare = pairs(str(shared_file("rw/rw.txt")))
    assert len(rare) == 2034 and rare[:3] == pairs(str(shared_file("word-sim/EN-RW-STANFORD.txt")))[:3]
    assert len(pairs(str(shared_file("word-sim/EN-MTurk-771.txt")))) == 771


def test_binary_and_text_word2vec_files_read_back_the_same_vectors(tmp_path):
    words = ["the", "straße", "of"]
    matrix = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    keyed = gensim_models.KeyedVectors(4)
    keyed.add_vectors(words, matrix)
    keyed.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    keyed.save_word2vec_format(str(tmp_path / "v.txt"), binary=False)
    for name in ("v.bin", "v.txt"):
        got_words, got = vectors.load_word2vec(str(tmp_path / name))
        assert got_words == words
        np.testing.assert_allclose(got, matrix, rtol=1e-6)


def test_text_files_of_many_chunks_keep_every_row_in_order(tmp_path):
    rows = vectors.FORMAT_ROWS * (vectors.FORMAT_THREADS + 2) + 7  # chunks waiting in turn
    words = [f"w{i}" for i in range(rows)]
    matrix = np.random.default_rng(0).normal(size=(rows, 3)).astype(np.float32)
    vectors.save_word2vec_text(str(tmp_path / "v.txt"), words, matrix)
    got_words, got = vectors.load_word2vec(str(tmp_path / "v.txt"))
    assert got_words == words
    np.testing.assert_allclose(got, matrix, rtol=1e-5)
    vectors.save_projector_tsv(str(tmp_path), words, matrix)
    np.testing.assert_allclose(np.loadtxt(tmp_path / vectors.PROJECTOR_VECTORS, delimiter="\t"),
                               matrix, rtol=1e-5)


@pytest.mark.parametrize("name, content, message", [
    ("empty.txt", "", "no analogy questions"),
    ("three.txt", ": s\na b c\n", "three.txt:2: expected 4 words, found 3"),
])
def test_malformed_analogy_files(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(UsageError, match=message):
        evaluation.read_analogies(str(tmp_path / name))


@pytest.mark.parametrize("name, content, message", [
    ("empty.txt", "", "no word pairs"),
    ("two.txt", "a\tb\t1\nc\td\n", "two.txt:2: expected at least 3 columns, found 2"),
    ("text.txt", "a b 1\nc d high\n", "text.txt:2: score 'high' is not a number"),
    ("missing.txt", None, "cannot read"),
])
def test_malformed_pair_files(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(UsageError, match=message):
        evaluation.read_word_pairs(str(tmp_path / name))


@pytest.mark.parametrize("content, message", [
    (b"three words here\n", "v:1: expected a header"),
    (b"2 3\nthe 1 2 3\nof 1 2\n", "v:3: expected a word and 3 numbers"),
    (b"2 2\nthe " + np.float32([1, 2]).tobytes() + b"\nof " + np.float32([1]).tobytes(),
     "truncated binary data at word 2 of 2"),
])
def test_malformed_vector_files(tmp_path, content, message):
    (tmp_path / "v").write_bytes(content)
    with pytest.raises(UsageError, match=message):
        vectors.load_word2vec(str(tmp_path / "v"))


def test_msr_format_without_sections_is_one_section(tmp_path):
    (tmp_path / "msr.txt").write_text("king queen man woman\nKing Queen Man Woman\nx y z w\n")
    words = ["king", "queen", "man", "woman", "Man"]
    matrix = np.array([[1, 0], [1, 1], [0, 0.1], [0, 1.1], [5, 5]], np.float32)
    result = WordVectors(words, matrix).evaluate_word_analogies(str(tmp_path / "msr.txt"))
    assert [s.name for s in result.sections] == ["msr.txt"]
    # Case-insensitive: the second question is the first one; the third is out of vocabulary.
    assert (result.overall.correct, result.overall.seen, result.overall.total) == (2, 2, 3)


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")  # gensim, row 7
def test_the_serving_graphs_nearest_agrees_with_word_vectors_and_gensim():
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(300, 20)).astype(np.float32)
    matrix[7] = 0  # a zero row scores 0 against every word
    words = [f"w{i}" for i in range(len(matrix))]
    keyed = gensim_models.KeyedVectors(20)
    keyed.add_vectors(words, matrix)
    inverse_norms = neighbours.inverse_norms(matrix).numpy()
    lengths = np.linalg.norm(matrix, axis=1)
    np.testing.assert_allclose(inverse_norms[lengths > 0], 1 / lengths[lengths > 0], rtol=1e-6)
    assert inverse_norms[7] == 0
    word_vectors = WordVectors(words, matrix)
    queries = [0, 42, 299]
    batch_ids, batch_scores = (x.numpy() for x in neighbours.nearest(
        matrix, inverse_norms, tf.constant(queries), 5))
    for row, word_id in enumerate(queries):
        expected = keyed.most_similar(words[word_id], topn=5)
        assert [words[i] for i in batch_ids[row]] == [word for word, _ in expected]
        np.testing.assert_allclose(batch_scores[row], [score for _, score in expected], rtol=1e-5)
        ours = word_vectors.most_similar(words[word_id], topn=5)
        assert [word for word, _ in ours] == [word for word, _ in expected]
        np.testing.assert_allclose([score for _, score in ours], batch_scores[row], rtol=1e-5)
    (all_ids,), (all_scores,) = (x.numpy() for x in neighbours.nearest(
        matrix, inverse_norms, tf.constant([0]), len(matrix) - 1))
    assert len(all_ids) == len(matrix) - 1 and 0 not in all_ids  # all but the word itself
    assert all_scores[list(all_ids).index(7)] == 0
    assert dict(word_vectors.most_similar("w0", topn=len(matrix)))["w7"] == 0


