"""Phrases: word2phrase's counts, scores and greedy joining, against pure Python and gensim."""

import collections
import random

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_usage_error, sg_keras
from sg_keras import phrases
from sg_keras.corpus import Corpus
from sg_keras.errors import UsageError

COLLOCATIONS = [("new", "york"), ("prime", "minister"), ("los", "angeles"), ("york", "times")]


def collocation_corpus(path, sentences=800, seed=0):
    """Random words with planted collocations (some overlapping: new york times)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)]
    lines = []
    for _ in range(sentences):
        sentence = []
        while len(sentence) < rng.randint(3, 15):
            draw = rng.random()
            if draw < 0.08:
                sentence.extend(rng.choice(COLLOCATIONS))
            elif draw < 0.1:
                sentence.extend(["new", "york", "times"])
            else:
                sentence.append(rng.choice(words))
        lines.append(" ".join(sentence))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [line.split() for line in lines]


def reference_join(sentence, phrase_set):
    """word2phrase's output loop: left to right, a joined word is not joined again."""
    out, i = [], 0
    while i < len(sentence):
        if i + 1 < len(sentence) and f"{sentence[i]}_{sentence[i + 1]}" in phrase_set:
            out.append(f"{sentence[i]}_{sentence[i + 1]}")
            i += 2
        else:
            out.append(sentence[i])
            i += 1
    return out


def reference_phrases(sentences, min_count, thresholds):
    """Pure Python word2phrase, pass after pass: [{phrase: (count, score)}]."""
    found = []
    for threshold in thresholds:
        for phrase_set in found:
            sentences = [reference_join(s, phrase_set) for s in sentences]
        words = collections.Counter(w for s in sentences for w in s)
        bigrams = collections.Counter((a, b) for s in sentences for a, b in zip(s, s[1:]))
        total = sum(words.values())
        this_pass = {}
        for (a, b), count in bigrams.items():
            if words[a] < min_count or words[b] < min_count:
                continue
            score = (count - min_count) / (words[a] * words[b]) * total
            if score > threshold:
                this_pass[f"{a}_{b}"] = (count, score)
        found.append(this_pass)
    return found


@pytest.mark.parametrize("min_count, thresholds, second_pass_phrase", [
    (5, [10.0], None), (3, [10.0, 2.0], "new_york_times"), (1, [50.0, 20.0, 10.0], None)])
def test_learnt_phrases_equal_a_pure_python_word2phrase(tmp_path, min_count, thresholds,
                                                        second_pass_phrase):
    sentences = collocation_corpus(tmp_path / "c.txt")
    table = phrases.learn_phrases(Corpus([str(tmp_path / "c.txt")]), "whitespace",
                                  min_count, thresholds)
    expected = reference_phrases(sentences, min_count, thresholds)
    assert len(table.passes) == len(thresholds)
    for got, want in zip(table.passes, expected):
        assert sorted(got.phrases) == sorted(want)
        for phrase, count, score in zip(got.phrases, got.counts, got.scores):
            assert count == want[phrase][0]
            assert score == pytest.approx(want[phrase][1], rel=1e-12)
        assert list(got.scores) == sorted(got.scores, reverse=True)
    assert "new_york" in table.phrases
    if second_pass_phrase:  # the second pass joins joined words
        assert second_pass_phrase in table.passes[1].phrases


def test_joining_equals_word2phrases_greedy_scan():
    rng = random.Random(1)
    phrase_set = {"a_b", "b_a", "a_a", "c_b"}
    sentences = [[rng.choice("abc") for _ in range(rng.randint(0, 12))] for _ in range(300)]
    words = tf.ragged.constant(sentences, dtype=tf.string, ragged_rank=1)
    joined = phrases.join_phrases(words, phrases._phrase_set(sorted(phrase_set)))
    assert [[w.decode() for w in s] for s in joined.to_list()] == [
        reference_join(s, phrase_set) for s in sentences]


def test_phrases_equal_gensims_with_word2phrases_scorer(tmp_path):
    gensim_phrases = pytest.importorskip("gensim.models.phrases")
    sentences = collocation_corpus(tmp_path / "c.txt", sentences=2000, seed=3)
    table = phrases.learn_phrases(Corpus([str(tmp_path / "c.txt")]), "whitespace", 5, [10.0])
    model = gensim_phrases.Phrases(sentences, min_count=5, threshold=10.0, delimiter="_",
                                   scoring=word2phrase_scorer)
    theirs = model.export_phrases()
    assert set(table.phrases) == set(theirs)
    ours = dict(zip(table.phrases, table.passes[0].scores))
    for phrase, score in theirs.items():
        assert ours[phrase] == pytest.approx(score, rel=1e-9)


def word2phrase_scorer(worda_count, wordb_count, bigram_count, len_vocab, min_count,
                       corpus_word_count):
    return (bigram_count - min_count) / (worda_count * wordb_count) * corpus_word_count


def test_a_phrases_file_round_trips_and_names_its_tokenizer(tmp_path):
    collocation_corpus(tmp_path / "c.txt")
    table = phrases.learn_phrases(Corpus([str(tmp_path / "c.txt")]), "whitespace", 3,
                                  [10.0, 2.0])
    table.save(tmp_path / "p.tsv")
    loaded = phrases.PhraseTable.load(tmp_path / "p.tsv", tokenizer="whitespace")
    assert loaded.to_tsv() == table.to_tsv()
    assert [p.phrases for p in loaded.passes] == [p.phrases for p in table.passes]
    np.testing.assert_array_equal(loaded.passes[0].counts, table.passes[0].counts)
    with pytest.raises(UsageError, match="made with --tokenizer=whitespace, not unicode"):
        phrases.PhraseTable.load(tmp_path / "p.tsv", tokenizer="unicode")


@pytest.mark.parametrize("content, message", [
    ("", "not a phrases file"),
    ("new york\t3\t1.0\n", "not a phrases file"),
    ("# sg-keras phrases: tokenizer=unicode min_count=5 passes=1\nnew_york\t3\t1.0\n",
     "line 2"),
    ("# sg-keras phrases: tokenizer=unicode min_count=5 passes=1\n"
     "# pass 1: threshold=100.0 words=10\nnew_york\tthree\t1.0\n", "line 3"),
    ("# sg-keras phrases: tokenizer=unicode min_count=5 passes=2\n"
     "# pass 1: threshold=100.0 words=10\nnew_york\t3\t1.0\n", "1 of its 2 passes"),
])
def test_a_malformed_phrases_file_is_refused(tmp_path, content, message):
    (tmp_path / "p.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        phrases.PhraseTable.load(tmp_path / "p.tsv")


def test_the_phrases_command_writes_the_file(tmp_path):
    collocation_corpus(tmp_path / "c.txt")
    result = sg_keras("phrases", "--corpus=c.txt", "--output=p.tsv", "--tokenizer=whitespace",
                      "--threshold=20,5", "--passes=3", "--min_count=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = phrases.PhraseTable.load(tmp_path / "p.tsv", tokenizer="whitespace")
    assert [p.threshold for p in loaded.passes] == [20.0, 5.0, 5.0]
    assert result.stdout.strip() == f"{len(loaded)} phrases in 3 passes written to p.tsv"


@pytest.mark.parametrize("flags, message", [
    (["--threshold=0"], "--threshold must be positive"),
    (["--threshold=-5"], "--threshold must be positive"),
    (["--threshold=many"], "--threshold takes numbers"),
    (["--min_count=0"], "--min_count must be at least 1"),
    (["--passes=0"], "--passes=0 is fewer than the 1 thresholds"),
    (["--threshold=200,100", "--passes=1"], "--passes=1 is fewer than the 2 thresholds"),
    (["--corpus=missing.txt"], "corpus file not found: missing.txt"),
])
def test_bad_phrases_flags_are_one_line_and_write_nothing(tmp_path, flags, message):
    collocation_corpus(tmp_path / "c.txt", sentences=50)
    result = sg_keras("phrases", "--corpus=c.txt", "--output=p.tsv", *flags, cwd=tmp_path)
    assert_usage_error(result, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


@pytest.fixture(scope="module")
def phrase_run(tmp_path_factory):
    """A run trained with two passes of phrases (unicode tokenizer), and its phrases file."""
    root = tmp_path_factory.mktemp("phrase_run")
    collocation_corpus(root / "c.txt", sentences=1500)
    made = sg_keras("phrases", "--corpus=c.txt", "--output=p.tsv", "--threshold=10,2",
                    "--min_count=3", cwd=root)
    assert made.returncode == 0, made.stderr
    trained = sg_keras("train", "--corpus=c.txt", "--phrases=p.tsv", "--model_dir=run",
                       "--min_count=3", "--dim=16", "--epochs=2", "--verbosity=-1", cwd=root)
    assert trained.returncode == 0, trained.stderr
    return root


def test_training_with_phrases_makes_them_words(phrase_run):
    from sg_keras.model_dir import ModelDir

    model_dir = ModelDir(str(phrase_run / "run"))
    assert (phrase_run / "run" / "phrases.tsv").read_text() == (phrase_run / "p.tsv").read_text()
    vocab = model_dir.read_vocabulary()
    table = model_dir.read_phrases()
    sentences = [line.split() for line in (phrase_run / "c.txt").read_text().splitlines()]
    for phrase_set in [set(p.phrases) for p in table.passes]:
        sentences = [reference_join(s, phrase_set) for s in sentences]
    expected = collections.Counter(w for s in sentences for w in s)
    assert dict(zip(vocab.words, vocab.counts.tolist())) == {
        w: c for w, c in expected.items() if c >= 3}
    assert {"new_york_times", "los_angeles", "w0"} <= set(vocab.words)


def test_similar_and_the_export_answer_a_phrase_in_words(phrase_run):
    from sg_keras import export as export_lib
    from sg_keras.word_vectors import WordVectors

    similar = sg_keras("similar", "--model_dir=run", "Los Angeles", "--top=2", cwd=phrase_run)
    assert similar.returncode == 0, similar.stderr
    assert similar.stdout.splitlines()[0] == "los_angeles:"
    path = export_lib.export_trained(str(phrase_run / "run"), str(phrase_run / "served"))
    served = tf.saved_model.load(path)
    queries = ["Los Angeles", "los_angeles", "new york times", "w0", "angeles los"]
    result = served.signatures["lookup"](words=tf.constant(queries))
    assert result["in_vocabulary"].numpy().tolist() == [True, True, True, True, False]
    word_vectors = WordVectors.load(str(phrase_run / "run" / "vectors.txt"))
    for query, vector in zip(queries[:4], result["embeddings"].numpy()):
        key = {"Los Angeles": "los_angeles", "new york times": "new_york_times"}.get(query, query)
        np.testing.assert_allclose(vector, word_vectors[key], atol=1e-6)


@pytest.mark.parametrize("content, message", [
    ("new_york\t3\t1.0\n", "not a phrases file"),
    ("# sg-keras phrases: tokenizer=whitespace min_count=5 passes=0\n",
     "was made with --tokenizer=whitespace, not unicode"),
])
def test_train_refuses_a_foreign_phrases_file_and_writes_nothing(tmp_path, content, message):
    collocation_corpus(tmp_path / "c.txt", sentences=50)
    (tmp_path / "p.tsv").write_text(content, encoding="utf-8")
    result = sg_keras("train", "--corpus=c.txt", "--phrases=p.tsv", "--model_dir=run",
                      "--min_count=1", cwd=tmp_path)
    assert_usage_error(result, message)
    assert not (tmp_path / "run").exists()


def test_a_run_resumed_with_other_phrases_is_refused(phrase_run):
    result = sg_keras("train", "--corpus=c.txt", "--model_dir=run", "--min_count=3",
                      "--dim=16", "--epochs=2", cwd=phrase_run)
    assert_usage_error(result, "holds a run with other phrases")
