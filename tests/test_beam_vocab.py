"""The Beam vocabulary pipeline writes the vocab.tsv of the local builder, byte for byte."""

import gzip
import json

import pytest

from conftest import planted_corpus
from sg_keras import corpus
from sg_keras.errors import UsageError
from sg_keras.vocab import count_vocabulary

pytest.importorskip("apache_beam")
from pipelines import beam_vocab  # noqa: E402


def local_vocab_tsv(paths, path, tokenizer, min_count, max_vocab_size=0):
    vocab, _ = count_vocabulary(corpus.Corpus([str(p) for p in paths]), tokenizer, min_count,
                                max_vocab_size)
    vocab.save(path)
    return path.read_bytes()


def beam_vocab_tsv(paths, path, tokenizer, min_count, max_vocab_size=0):
    beam_vocab.count_vocabulary([str(p) for p in paths], str(path), tokenizer, min_count,
                                max_vocab_size)
    return path.read_bytes()


@pytest.mark.parametrize("min_count", [1, 900])
def test_planted_corpus_vocabulary_is_byte_identical(tmp_path, min_count):
    planted_corpus(tmp_path / "planted.txt")
    args = ([tmp_path / "planted.txt"], "whitespace", min_count)
    local = local_vocab_tsv(args[0], tmp_path / "local.tsv", *args[1:])
    assert beam_vocab_tsv(args[0], tmp_path / "beam.tsv", *args[1:]) == local
    assert len(local.splitlines()) == 36 if min_count == 1 else 4 < len(local.splitlines()) < 36


@pytest.fixture
def several_files(tmp_path, monkeypatch):
    """Three files (one gzip, one with invalid UTF-8 and a long line), read in many blocks."""
    monkeypatch.setattr(corpus, "BLOCK_CHARS", 64)  # blocks of a few sentences: ties span blocks
    monkeypatch.setattr(corpus, "MAX_SENTENCE_WORDS", 5)  # the long line: several sentences
    (tmp_path / "a.txt").write_text(
        "Zebra apple. Apple, banana!\ncherry ZEBRA date\n\nÉclair éclair Ǆemal\n" * 3)
    with gzip.open(tmp_path / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write("date fig grape fig\nbanana cherry kiwi\n" + "lemon mango " * 20 + "\n")
    (tmp_path / "c.txt").write_bytes(b"kiwi \xff\xfe lime\napple zebra grape\xc3\n")
    return [tmp_path / "a.txt", tmp_path / "b.txt.gz", tmp_path / "c.txt"]


@pytest.mark.parametrize("tokenizer, min_count, max_vocab_size", [
    ("unicode", 1, 0), ("whitespace", 1, 0), ("unicode", 2, 0), ("unicode", 1, 7)])
def test_several_files_vocabulary_is_byte_identical(several_files, tmp_path, tokenizer,
                                                     min_count, max_vocab_size):
    args = (tokenizer, min_count, max_vocab_size)
    local = local_vocab_tsv(several_files, tmp_path / "local.tsv", *args)
    assert beam_vocab_tsv(several_files, tmp_path / "beam.tsv", *args) == local
    assert local.count(b"\n") == (max_vocab_size or local.count(b"\n"))


def test_a_glob_stands_for_its_files_in_sorted_order(several_files, tmp_path):
    local = local_vocab_tsv(sorted(several_files), tmp_path / "local.tsv", "unicode", 1)
    beam_vocab.count_vocabulary([str(tmp_path / "[abc].txt*")], str(tmp_path / "beam.tsv"),
                                "unicode", 1)
    assert (tmp_path / "beam.tsv").read_bytes() == local


def test_bad_input_is_a_usage_error(several_files, tmp_path):
    with pytest.raises(UsageError, match="corpus file not found"):
        beam_vocab.count_vocabulary([str(tmp_path / "missing.txt")], str(tmp_path / "v.tsv"))
    with pytest.raises(UsageError, match="no corpus file matches"):
        beam_vocab.count_vocabulary([str(tmp_path / "*.missing")], str(tmp_path / "v.tsv"))
    with pytest.raises(UsageError, match="unknown tokenizer"):
        beam_vocab.count_vocabulary([str(several_files[0])], str(tmp_path / "v.tsv"), "bogus")
    with pytest.raises(Exception, match="fewer than 2 distinct words"):
        beam_vocab.count_vocabulary([str(several_files[0])], str(tmp_path / "v.tsv"),
                                    min_count=1000)


def test_vocabulary_file_orders_by_count_then_first_position():
    entries = [(b"kiwi", (2, (1, 0, 3))), (b"apple", (5, (0, 2, 0))), (b"fig", (2, (0, 7, 1))),
               ("straße".encode(), (5, (0, 0, 4))), (b"lime", (1, (0, 0, 0)))]
    assert beam_vocab.vocabulary_file(entries, 1, 0) == \
        "straße\t5\napple\t5\nfig\t2\nkiwi\t2\nlime\t1"  # WriteToText adds the last newline
    assert beam_vocab.vocabulary_file(entries, 2, 3) == "straße\t5\napple\t5\nfig\t2"


def test_gzip_is_recognised_by_content_through_beams_filesystems(tmp_path):
    with gzip.open(tmp_path / "packed", "wt", encoding="utf-8") as f:  # no .gz suffix
        f.write("b a\nb\n")
    with beam_vocab.open_uncompressed(str(tmp_path / "packed")) as f:
        assert f.read(2) == b"\x1f\x8b"  # as stored
    beam_vocab.count_vocabulary([str(tmp_path / "packed")], str(tmp_path / "v.tsv"), "unicode", 1)
    assert (tmp_path / "v.tsv").read_text(encoding="utf-8") == "b\t2\na\t1\n"


def test_train_on_beams_vocabulary_writes_the_vectors_of_train_counting_itself(tmp_path):
    from conftest import config_for
    from sg_keras import training

    planted_corpus(tmp_path / "planted.txt")
    beam_vocab_tsv([tmp_path / "planted.txt"], tmp_path / "beam.tsv", "whitespace", 1)
    counted = config_for(tmp_path / "planted.txt", tmp_path / "counted", epochs=1)
    given = config_for(tmp_path / "planted.txt", tmp_path / "given", epochs=1,
                       vocab=str(tmp_path / "beam.tsv"))
    training.train(counted)
    training.train(given)
    for name in ("vocab.tsv", "vectors.txt"):
        assert (tmp_path / "given" / name).read_bytes() == (tmp_path / "counted" / name).read_bytes()
    assert (tmp_path / "given" / "vocab.tsv").read_bytes() == (tmp_path / "beam.tsv").read_bytes()
    record = json.loads((tmp_path / "given" / "config.json").read_text())
    assert record == json.loads((tmp_path / "counted" / "config.json").read_text())
