"""The sg-keras command as a user runs it: a separate process, exit codes, stdout/stderr."""

import json
import os
import subprocess
import sys

import pytest

from conftest import assert_usage_error, planted_corpus, sg_keras

FOX_TABLE = """\
the    (the, quick) (the, brown)
quick  (quick, the) (quick, brown) (quick, fox)
brown  (brown, the) (brown, quick) (brown, fox) (brown, jumps)
fox    (fox, quick) (fox, brown) (fox, jumps) (fox, over)
jumps  (jumps, brown) (jumps, fox) (jumps, over) (jumps, the)
over   (over, fox) (over, jumps) (over, the) (over, lazy)
the    (the, jumps) (the, over) (the, lazy) (the, dog)
lazy   (lazy, over) (lazy, the) (lazy, dog)
dog    (dog, the) (dog, lazy)
"""


def test_pairs_prints_the_tutorial_table():
    result = sg_keras("pairs", "--window=2", "The quick brown fox jumps over the lazy dog.")
    assert result.returncode == 0, result.stderr
    assert result.stdout == FOX_TABLE


def test_pairs_with_subsampling_and_shrinking_switched_on():
    sentence = " ".join(["the"] * 50 + ["fox"])
    result = sg_keras("pairs", "--window=3", "--sample=0.01", "--shrink_window", sentence)
    assert result.returncode == 0, result.stderr
    centres = [line.split()[0] for line in result.stdout.splitlines()]
    assert 0 < centres.count("the") < 50  # frequent words are discarded at random


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    planted_corpus(root / "corpus.txt")
    result = sg_keras("train", f"--corpus={root / 'corpus.txt'}", f"--model_dir={root / 'model'}",
                      "--dim=16", "--window=3", "--min_count=1", "--epochs=2", "--sample=0",
                      "--batch_size=256", "--num_sampled=16")
    assert result.returncode == 0, result.stderr
    return root / "model", result


def test_train_writes_the_model_dir(trained):
    model_dir, result = trained
    assert f"model written to {model_dir}" in result.stdout
    assert {"vocab.tsv", "config.json", "model.keras", "vectors.txt"} <= set(os.listdir(model_dir))


def test_similar_prints_ten_neighbours_with_cosine(trained):
    model_dir, _ = trained
    result = sg_keras("similar", f"--model_dir={model_dir}", "CAT3")  # normalised like training
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "cat3:" and len(lines) == 11
    neighbours = [line.split() for line in lines[1:]]
    scores = [float(score) for _, score in neighbours]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert sum(word.startswith("cat") for word, _ in neighbours[:5]) >= 4


def test_similar_names_the_unknown_words_in_one_line(trained):
    model_dir, _ = trained
    result = sg_keras("similar", f"--model_dir={model_dir}", "zebra", "sea1 - yak + cat1")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == "error: not in the vocabulary: zebra, yak"


def test_similar_answers_a_query_like_gensims_most_similar(trained):
    model_dir, _ = trained
    from sg_keras.word_vectors import WordVectors

    result = sg_keras("similar", f"--model_dir={model_dir}", "--top=3", "SEA1 - cat1 + cat2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "sea1 + cat2 - cat1:"
    expected = WordVectors.from_model_dir(str(model_dir)).most_similar(
        ["sea1", "cat2"], ["cat1"], topn=3)
    assert [line.split()[0] for line in lines[1:]] == [word for word, _ in expected]
    assert [float(line.split()[1]) for line in lines[1:]] == [
        pytest.approx(score, abs=5e-5) for _, score in expected]


def test_similar_on_a_vectors_file_and_doesnt_match(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("4 2\nbreakfast 1 0.1\nlunch 0.9 0.2\ndinner 1 0.3\ncar -0.2 1\n")
    result = sg_keras("similar", f"--vectors={path}", "--doesnt_match", "lunch", "car", "dinner")
    assert (result.returncode, result.stdout) == (0, "car\n"), result.stderr
    result = sg_keras("similar", f"--vectors={path}", "--top=1", "lunch")
    assert result.stdout.splitlines() == ["lunch:", f"  {'dinner':<20} 0.9974"]


@pytest.mark.parametrize("args, message", [
    (["king -"], "malformed query 'king -': expected a word at the end"),
    (["--", "- king"], "query '- king' has no positive word"),  # (`--`: not a flag)
    (["--doesnt_match", "lunch"], "--doesnt_match needs at least two words"),
    (["--doesnt_match", "lunch", "yak"], "not in the vocabulary: yak"),
    ([], 'similar needs at least one WORD or query (e.g. "king - man + woman")'),
])
def test_similar_refuses_malformed_queries_in_one_line(tmp_path, args, message):
    path = tmp_path / "vectors.txt"
    path.write_text("2 2\nlunch 1 0\ndinner 1 1\n")
    result = sg_keras("similar", f"--vectors={path}", *args)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == f"error: {message}"


@pytest.fixture
def corpora(tmp_path):
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "punctuation.txt").write_text("... !!! ???\n", encoding="utf-8")
    (tmp_path / "one_word.txt").write_text("same " * 100, encoding="utf-8")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 64)
    planted_corpus(tmp_path / "good.txt", sentences=200)
    (tmp_path / "spaces.tsv").write_text("cat0 12\n", encoding="utf-8")
    (tmp_path / "negative.tsv").write_text("cat0\t12\ncat1\t-3\n", encoding="utf-8")
    (tmp_path / "twice.tsv").write_text("cat0\t12\ncat1\t5\ncat0\t2\n", encoding="utf-8")
    (tmp_path / "empty.tsv").write_text("", encoding="utf-8")
    (tmp_path / "unseen.tsv").write_text("zebra\t50\nyak\t30\n", encoding="utf-8")
    fibonacci = [1, 1]  # counts whose Huffman tree is a chain: 44 levels for 45 words
    while len(fibonacci) < 45:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    (tmp_path / "deep.tsv").write_text("".join(
        f"w{i}\t{count}\n" for i, count in enumerate(fibonacci[::-1])), encoding="utf-8")
    (tmp_path / "deep.txt").write_text((" ".join(f"w{i}" for i in range(45)) + " ") * 3 + "\n",
                                       encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("flags, message", [
    (["--corpus=missing.txt"], "corpus file not found"),
    (["--corpus=empty.txt"], "the corpus has no words"),
    (["--corpus=punctuation.txt"], "the corpus has no words"),
    (["--corpus=one_word.txt"], "fewer than 2 distinct words"),
    (["--corpus=good.txt", "--min_count=100000"], "fewer than 2 distinct words"),
    (["--corpus=binary.bin"], "looks binary"),
    (["--corpus=good.txt", "--window=0"], "--window must be at least 1"),
    (["--corpus=good.txt", "--dim=0"], "--dim must be at least 1"),
    (["--corpus=good.txt", "--negative=-1"], "--negative must be at least 0"),
    (["--corpus=good.txt", "--sample=-0.1"], "--sample must be at least 0"),
    (["--corpus=good.txt", "--epochs=0"], "--epochs must be at least 1"),
    (["--corpus=good.txt", "--loss=hinge"], "unknown loss 'hinge'"),
    (["--corpus=good.txt", "--tokenizer=nltk"], "unknown tokenizer 'nltk'"),
    (["--corpus=good.txt", "--dim=ten"], "flag --dim=ten"),
    (["--corpus=good.txt", "--no_such_flag=1"], "no_such_flag"),
    (["--corpus=good.txt", "--vocab=missing.tsv"], "vocabulary not found: missing.tsv"),
    (["--corpus=good.txt", "--vocab=spaces.tsv"], "spaces.tsv line 1: expected word<TAB>count"),
    (["--corpus=good.txt", "--vocab=negative.tsv"],
     "negative.tsv line 2: the count of 'cat1' must be a positive integer, got '-3'"),
    (["--corpus=good.txt", "--vocab=twice.tsv"], "twice.tsv line 3: 'cat0' is also on line 1"),
    (["--corpus=good.txt", "--vocab=empty.tsv"], "empty.tsv is empty"),
    (["--corpus=good.txt", "--vocab=binary.bin"], "binary.bin is not UTF-8 text"),
    (["--corpus=good.txt", "--vocab=twice.tsv", "--min_count=100"], "'cat0' is also on line 1"),
    (["--corpus=good.txt", "--vocab=unseen.tsv"], "none of the 2 words of unseen.tsv occurs in"),
    (["--corpus=deep.txt", "--vocab=deep.tsv", "--min_count=1", "--loss=hs", "--verbosity=-1"],
     "tree of these counts is 44 levels deep, more than word2vec.c's 40"),
])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(corpora, flags, message):
    result = sg_keras("train", "--model_dir=model", *flags, cwd=corpora)
    assert_usage_error(result, message)
    assert not (corpora / "model").exists()


def test_a_diverging_run_fails_without_writing_a_model(corpora):
    # The process used to hang at exit in about half the runs of this test (the
    # pipeline in a cycle through the traceback: see tests/test_text.py).
    result = sg_keras("train", "--model_dir=model", "--corpus=good.txt", "--dim=8",
                      "--learning_rate=1e30", "--verbosity=-1", cwd=corpora, timeout=120)
    assert_usage_error(result, "training diverged: the word vectors are not finite after epoch")
    assert "try a smaller --learning_rate" in result.stderr
    assert not (corpora / "model" / "model.keras").exists()
    assert not (corpora / "model" / "vectors.txt").exists()


def test_invalid_utf8_is_replaced_counted_and_reported(tmp_path):
    lines = [" ".join(f"w{(i * 7 + j) % 20}" for j in range(10)) for i in range(200)]
    (tmp_path / "c.txt").write_bytes("\n".join(lines).encode() + b"\nbad \xff\xfe w1\n")
    result = sg_keras("train", "--corpus=c.txt", "--model_dir=m", "--epochs=1",
                      "--min_count=1", "--dim=8", "--verbosity=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 invalid UTF-8 byte sequences were replaced" in result.stderr
    # Set before TensorFlow's runtime started, as it must be (process.limit_op_threads).
    assert "TensorFlow ops run on one thread each" in result.stderr
    assert '"invalid_utf8": 2' in (tmp_path / "m" / "config.json").read_text()


@pytest.mark.parametrize("args, message", [
    (["similar", "--model_dir=nowhere", "word"], "no trained model in nowhere"),
    (["similar", "word"], "give exactly one of --model_dir and --vectors"),
    (["pairs"], "pairs takes one TEXT argument"),
    (["pairs", "--window=0", "a b"], "--window must be at least 1"),
    (["fly"], "unknown command 'fly'"),
])
def test_other_commands_reject_bad_input(tmp_path, args, message):
    assert_usage_error(sg_keras(*args, cwd=tmp_path), message)


@pytest.fixture
def evaluation_files(tmp_path):
    (tmp_path / "v.txt").write_text("4 2\nking 1 0\nqueen 1 1\nman 0 0.1\nwoman 0 1.1\n")
    (tmp_path / "q.txt").write_text(": family\nman woman king queen\nman king woman queen\n"
                                    "man boy king prince\n")
    (tmp_path / "pairs.csv").write_text("Word 1,Word 2,Human (mean)\nking,queen,8\nman,woman,7\n"
                                        "king,man,3\nqueen,boy,2\n")
    return tmp_path


def test_evaluate_prints_tables_and_json(evaluation_files):
    result = sg_keras("evaluate", "--vectors=v.txt", "--analogies=q.txt",
                      "--similarity=pairs.csv", cwd=evaluation_files)
    assert result.returncode == 0, result.stderr
    assert "family" in result.stdout and "coverage: 66.7% of questions seen" in result.stdout
    result = sg_keras("evaluate", "--vectors=v.txt", "--analogies=q.txt",
                      "--similarity=pairs.csv", "--json", cwd=evaluation_files)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["analogy"]["q.txt"]["seen"] == 2 and figures["analogy"]["q.txt"]["total"] == 3
    assert figures["analogy"]["q.txt"]["correct"] == 2
    assert figures["analogy"]["q.txt"]["accuracy"] == 1.0
    assert figures["similarity"]["pairs.csv"]["pairs"] == 3
    assert figures["similarity"]["pairs.csv"]["oov"] == 1


def test_evaluate_a_model_dir(trained, evaluation_files):
    model_dir, _ = trained
    (evaluation_files / "topics.txt").write_text("cat0 cat1 sea0 sea1\n")
    result = sg_keras("evaluate", f"--model_dir={model_dir}", "--analogies=topics.txt", "--json",
                      cwd=evaluation_files)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["analogy"]["topics.txt"]["seen"] == 1


@pytest.mark.parametrize("args, message", [
    (["--vectors=v.txt", "--analogies=broken.txt"], "broken.txt:2: expected 4 words, found 2"),
    (["--vectors=v.txt", "--similarity=broken.csv"], "broken.csv:3: score 'x' is not a number"),
    (["--vectors=v.txt", "--similarity=none.txt"], "cannot read none.txt"),
    (["--vectors=bad_vectors.txt", "--analogies=q.txt"], "bad_vectors.txt:1: expected a header"),
    (["--analogies=q.txt"], "give exactly one of --model_dir and --vectors"),
    (["--vectors=v.txt"], "nothing to evaluate"),
])
def test_evaluate_rejects_bad_input(evaluation_files, args, message):
    (evaluation_files / "broken.txt").write_text(": s\na b\n")
    (evaluation_files / "broken.csv").write_text("w1,w2,score\na,b,1\nc,d,x\n")
    (evaluation_files / "bad_vectors.txt").write_text("king 1 0\n")
    assert_usage_error(sg_keras("evaluate", *args, cwd=evaluation_files), message)


# Runs the console entry point with an exit handler registered before it, so the
# handler runs after every exit handler of the run and reports what it sees.
_TRAIN_AND_REPORT_AT_EXIT = """\
import atexit, gc, sys
atexit.register(lambda: print("tf_text loaded:", "tensorflow_text" in sys.modules,
                              "| objects frozen:", gc.get_freeze_count() > 0))
from sg_keras import cli
sys.argv = ["sg-keras", *sys.argv[1:]]
cli.run()
"""


@pytest.mark.parametrize("tokenizer, loads_tf_text", [("whitespace", False), ("unicode", True)])
def test_train_loads_tf_text_only_for_its_tokenizer_and_leaves_its_objects_to_the_os(
        tmp_path, tokenizer, loads_tf_text):
    planted_corpus(tmp_path / "c.txt", sentences=200)
    result = subprocess.run(
        [sys.executable, "-c", _TRAIN_AND_REPORT_AT_EXIT, "train", "--corpus=c.txt",
         "--model_dir=m", f"--tokenizer={tokenizer}", "--epochs=1", "--min_count=1", "--dim=8"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m" / "vectors.txt").exists()
    assert result.stdout.splitlines()[-1] == \
        f"tf_text loaded: {loads_tf_text} | objects frozen: True"
