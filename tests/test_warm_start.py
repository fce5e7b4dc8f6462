"""Continued training (--init_from): the grown vocabulary, the copied rows, the kept space."""

import json
import zipfile

import numpy as np
import pytest

from conftest import assert_usage_error, config_for, planted_corpus, sg_keras, shared_file
from sg_keras import training
from sg_keras.errors import UsageError
from sg_keras.vocab import Vocabulary
from sg_keras.warm_start import Start
from sg_keras.word_vectors import WordVectors

FLAGS = ["--dim=16", "--window=3", "--min_count=1", "--epochs=2", "--sample=0",
         "--batch_size=256", "--num_sampled=16", "--tokenizer=whitespace"]


def renamed_corpus(path, seed, old, new):
    """A planted corpus in which the word ``old`` is written ``new``."""
    planted_corpus(path, seed=seed)
    path.write_text(" ".join(new if word == old else word for word in path.read_text().split(" ")))


@pytest.fixture(scope="module")
def continued(tmp_path_factory):
    """Run A on a planted corpus; run B continuing it on another, where cat7 is `kitten`
    (a word A never saw), given no settings but --init_from and --corpus."""
    work = tmp_path_factory.mktemp("warm")
    planted_corpus(work / "a.txt", seed=0)
    renamed_corpus(work / "b.txt", 1, "cat7", "kitten")
    result = sg_keras("train", "--corpus=a.txt", "--model_dir=A", *FLAGS, cwd=work)
    assert result.returncode == 0, result.stderr
    result = sg_keras("train", "--corpus=b.txt", "--init_from=A", "--model_dir=B",
                      "--learning_rate=0.01", cwd=work)
    assert result.returncode == 0, result.stderr
    return work


def test_the_vocabulary_grows_by_the_new_words_and_old_ids_stay(continued):
    old = Vocabulary.load(str(continued / "A" / "vocab.tsv"))
    grown = Vocabulary.load(str(continued / "B" / "vocab.tsv"))
    assert grown.words == old.words + ["kitten"]
    new_counts = dict(zip(*np.unique(np.array((continued / "b.txt").read_text().split()),
                                     return_counts=True)))
    expected = [count + new_counts.get(word, 0) for word, count in zip(old.words, old.counts)]
    assert grown.counts.tolist() == expected + [new_counts["kitten"]]


def test_the_settings_are_the_continued_runs_but_what_was_given(continued):
    old = json.loads((continued / "A" / "config.json").read_text())["settings"]
    new = json.loads((continued / "B" / "config.json").read_text())["settings"]
    assert new == {**old, "init_from": "A", "learning_rate": 0.01}


def test_a_new_word_lands_beside_the_words_it_shares_contexts_with(continued):
    vectors = WordVectors.from_model_dir(str(continued / "B"))
    neighbours = [word for word, _ in vectors.most_similar("kitten", topn=5)]
    assert sum(word.startswith("cat") for word in neighbours) >= 4, neighbours
    assert "cat7" in [word for word, _ in vectors.most_similar("kitten", topn=10)]


def test_the_new_model_starts_from_the_old_rows(continued, tmp_path):
    start = Start.read(str(continued / "A"))
    config = config_for(continued / "b.txt", tmp_path / "C", init_from=str(continued / "A"),
                        tokenizer="whitespace")
    vocab, corpus_counts = start.grown_vocabulary(
        Vocabulary(["kitten", "the"], np.array([5, 7])), min_count=1)
    model = training.build_model(config, vocab, start)
    old_words = len(start.vocab)
    np.testing.assert_array_equal(model.word_vectors()[:old_words], start.model.word_vectors())
    np.testing.assert_array_equal(model.output_kernel()[:old_words],
                                  start.model.output_kernel())
    fresh = training.build_model(config, vocab)  # the new word's row as any run initialises it
    np.testing.assert_array_equal(model.word_vectors()[old_words:],
                                  fresh.word_vectors()[old_words:])
    assert corpus_counts.tolist()[-1] == 5 and corpus_counts[vocab.index()["the"]] == 7


def test_continuing_with_subwords_copies_the_ngram_rows(tmp_path):
    planted_corpus(tmp_path / "a.txt")
    renamed_corpus(tmp_path / "b.txt", 1, "cat7", "kitten")
    training.train(config_for(tmp_path / "a.txt", tmp_path / "A", epochs=1, max_n=4,
                              buckets=500, tokenizer="whitespace"))
    start = Start.read(str(tmp_path / "A"))
    config = config_for(tmp_path / "b.txt", tmp_path / "B", epochs=1, max_n=4, buckets=500,
                        tokenizer="whitespace", init_from=str(tmp_path / "A"))
    vocab, _ = start.grown_vocabulary(Vocabulary(["kitten", "the"], np.array([5, 7])), 1)
    model = training.build_model(config, vocab, start)
    np.testing.assert_array_equal(model.ngram_vectors(), start.model.ngram_vectors())
    np.testing.assert_allclose(model.word_vectors()[:len(start.vocab)],
                               start.model.word_vectors(), atol=1e-7)
    training.train(config)
    assert Vocabulary.load(str(tmp_path / "B" / "vocab.tsv")).words[-1] == "kitten"


def test_a_continued_run_takes_its_new_words_from_a_vocab_file(continued, tmp_path):
    (tmp_path / "v.tsv").write_text("kitten\t40\nthe\t900\nzebra\t3\n")
    training.train(config_for(continued / "b.txt", tmp_path / "C", epochs=1,
                              tokenizer="whitespace", init_from=str(continued / "A"),
                              vocab=str(tmp_path / "v.tsv"), min_count=5))
    old = Vocabulary.load(str(continued / "A" / "vocab.tsv"))
    grown = Vocabulary.load(str(tmp_path / "C" / "vocab.tsv"))
    assert grown.words == old.words + ["kitten"]  # zebra is below min_count
    the = old.index()["the"]
    assert grown.counts[-1] == 40 and grown.counts[the] == old.counts[the] + 900


@pytest.mark.parametrize("flags, message", [
    (["--init_from=nowhere"], "--init_from nowhere is not a trained model_dir"),
    (["--init_from=A", "--dim=8"], "--dim=8 differs from the run it continues (A: dim=16)"),
    (["--init_from=A", "--tokenizer=unicode"], "--tokenizer=unicode differs"),
    (["--init_from=A", "--max_n=4"], "--max_n=4 differs"),
    (["--init_from=A", "--loss=softmax"], "--loss=softmax differs"),
])
def test_a_conflicting_or_missing_start_is_refused_before_anything_is_written(
        continued, flags, message):
    result = sg_keras("train", "--corpus=b.txt", "--model_dir=refused", *flags, cwd=continued)
    assert_usage_error(result, message)
    assert not (continued / "refused").exists()


def test_a_hierarchical_softmax_model_is_not_continued(continued, tmp_path):
    # Its tree is made from the counts, which continuing changes: refused, not retrained.
    training.train(config_for(continued / "a.txt", tmp_path / "H", loss="hs", epochs=1,
                              tokenizer="whitespace"))
    result = sg_keras("train", "--corpus=b.txt", f"--model_dir={tmp_path / 'refused'}",
                      f"--init_from={tmp_path / 'H'}", cwd=continued)
    assert_usage_error(result, "was trained with --loss=hs")
    assert not (tmp_path / "refused").exists()


def test_the_continued_run_is_kept_as_it_is(continued):
    with pytest.raises(UsageError, match="--model_dir must differ from --init_from"):
        training.train(config_for(continued / "b.txt", continued / "A", tokenizer="whitespace",
                                  init_from=str(continued / "A")))


def test_a_word_seen_only_in_the_continued_text_lands_next_to_its_old_synonym(tmp_path):
    # PTB's training text in halves; in the second, `stock` is written `newstock`: after
    # continuing on it, `stock` (learnt from the first half only) is among newstock's nearest.
    with zipfile.ZipFile(shared_file("ptb.zip")) as archive:
        lines = archive.read("ptb/ptb.train.txt").decode("utf-8").splitlines()
    half = len(lines) // 2
    (tmp_path / "a.txt").write_text("\n".join(lines[:half]) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(
        " ".join("newstock" if word == "stock" else word for word in line.split(" "))
        for line in lines[half:]) + "\n")
    for name, flags in (("A", ["--corpus=a.txt", "--dim=50", "--epochs=5",
                               "--tokenizer=whitespace"]),
                        ("B", ["--corpus=b.txt", "--init_from=A"])):
        result = sg_keras("train", f"--model_dir={name}", *flags, cwd=tmp_path, timeout=600)
        assert result.returncode == 0, result.stderr
    assert "newstock" not in Vocabulary.load(str(tmp_path / "A" / "vocab.tsv")).words
    vectors = WordVectors.from_model_dir(str(tmp_path / "B"))
    assert "stock" in [word for word, _ in vectors.most_similar("newstock", topn=10)]
