import collections

import numpy as np
import pytest
import tensorflow as tf

from conftest import memory_mib, write_distinct_words
from sg_keras import text
from sg_keras.errors import UsageError
from sg_keras.vocab import Vocabulary, build_vocabulary, count_words


def test_count_words_streams_the_corpus(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("b a c\nc b\n\nb d\n", encoding="utf-8")
    counter, counts = count_words(text.Corpus([str(path)]), "unicode")
    assert counter == collections.Counter({b"b": 3, b"c": 2, b"a": 1, b"d": 1})
    assert list(counter) == [b"b", b"a", b"c", b"d"]  # first-occurrence order
    assert (counts.tokens, counts.sentences, counts.invalid_utf8) == (7, 3, 0)  # 3 non-empty


def test_build_vocabulary_orders_by_count_with_first_occurrence_tie_break():
    counter = collections.Counter({b"x": 2, b"y": 5, b"z": 2, b"w": 1, b"v": 5})
    vocab = build_vocabulary(counter, min_count=2)
    assert vocab.words == ["y", "v", "x", "z"]
    assert vocab.counts.tolist() == [5, 5, 2, 2]
    assert build_vocabulary(counter, min_count=1, max_vocab_size=3).words == ["y", "v", "x"]


def test_too_few_words_is_a_usage_error():
    with pytest.raises(UsageError, match="fewer than 2 distinct words"):
        build_vocabulary(collections.Counter({b"x": 9, b"y": 1}), min_count=5)


def test_vocab_tsv_round_trip(tmp_path):
    vocab = Vocabulary(["the", "of", "straße"], np.array([9, 4, 4]))
    path = tmp_path / "vocab.tsv"
    vocab.save(str(path))
    assert path.read_text(encoding="utf-8") == "the\t9\nof\t4\nstraße\t4\n"
    loaded = Vocabulary.load(str(path))
    assert loaded.words == vocab.words and loaded.counts.tolist() == [9, 4, 4]
    assert loaded.lookup_table().lookup(tf.constant(["of", "nope"])).numpy().tolist() == [1, -1]


def test_count_words_gives_back_its_tables_memory(tmp_path):
    # Over these 3 counts of 200,000 distinct words, a named table (kept in TF's
    # resource manager until the process ends) grew resident memory by 64 MiB, a
    # freed table's memory left in its malloc arena by 68; given back, by ~4.
    corpus = text.Corpus([str(write_distinct_words(tmp_path / "distinct.txt"))])
    count_words(corpus, "whitespace")  # TF's own one-off allocations
    before = memory_mib()
    for _ in range(3):
        counter, _ = count_words(corpus, "whitespace")
        assert len(counter) == 200_000
        del counter
    assert memory_mib() - before < 30
