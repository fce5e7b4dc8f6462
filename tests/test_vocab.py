import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import memory_mib, write_distinct_words
from sg_keras.corpus import Corpus
from sg_keras.errors import UsageError
from sg_keras.vocab import Vocabulary, count_tokens, count_vocabulary, count_words


def test_count_words_streams_the_corpus(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("b a c\nc b\n\nb d\n", encoding="utf-8")
    words, word_counts, counts = count_words(Corpus([str(path)]), "unicode")
    assert words == ["b", "a", "c", "d"]  # first-occurrence order
    assert word_counts.tolist() == [3, 1, 2, 1]
    assert (counts.tokens, counts.sentences, counts.invalid_utf8) == (7, 3, 0)  # 3 non-empty


def test_count_words_keeps_first_occurrence_order_across_blocks(tmp_path, monkeypatch):
    from sg_keras import corpus

    monkeypatch.setattr(corpus, "BLOCK_CHARS", 8)  # a block or two per line
    path = tmp_path / "c.txt"
    path.write_text("e d\nd c b\nStraße a e\n\ne f a\n", encoding="utf-8")
    words, word_counts, counts = count_words(Corpus([str(path)]), "unicode")
    assert words == ["e", "d", "c", "b", "strasse", "a", "f"]
    assert word_counts.tolist() == [3, 2, 1, 1, 1, 2, 1]
    assert (counts.tokens, counts.sentences) == (11, 4)


def test_vocabulary_orders_by_count_with_first_occurrence_tie_break():
    words, counts = ["x", "y", "z", "w", "v"], [2, 5, 2, 1, 5]
    vocab = Vocabulary.from_counts(words, counts, min_count=2)
    assert vocab.words == ["y", "v", "x", "z"]
    assert vocab.counts.tolist() == [5, 5, 2, 2]
    assert Vocabulary.from_counts(words, counts, min_count=1, max_vocab_size=3).words == \
        ["y", "v", "x"]
    # Ties by the given first-occurrence keys (any sortable keys), not by the list's order.
    assert Vocabulary.from_counts(words, counts, min_count=1,
                                  first_seen=[(0, 9), (1, 0), (0, 2), (0, 0), (0, 5)]).words == \
        ["v", "y", "z", "x", "w"]


def test_count_vocabulary_counts_then_orders(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("the fox and the dog\nthe end of the fox\n", encoding="utf-8")
    vocab, counts = count_vocabulary(Corpus([str(path)]), "whitespace", min_count=2)
    assert (vocab.words, vocab.counts.tolist()) == (["the", "fox"], [4, 2])
    assert (counts.tokens, counts.sentences, vocab.total) == (10, 2, 6)
    assert count_vocabulary(Corpus([str(path)]), "whitespace", 1, max_vocab_size=3)[0].words == \
        ["the", "fox", "and"]


def test_too_few_words_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="fewer than 2 distinct words"):
        Vocabulary.from_counts(["x", "y"], [9, 1], min_count=5)
    path = tmp_path / "blank.txt"
    path.write_text("\n  \n.,;\n", encoding="utf-8")
    with pytest.raises(UsageError, match="the corpus has no words"):
        count_vocabulary(Corpus([str(path)]), "unicode", min_count=1)


def test_vocab_tsv_round_trip(tmp_path):
    vocab = Vocabulary(["the", "of", "straße"], np.array([9, 4, 4]))
    path = tmp_path / "vocab.tsv"
    vocab.save(str(path))
    assert path.read_text(encoding="utf-8") == vocab.to_tsv() == "the\t9\nof\t4\nstraße\t4\n"
    loaded = Vocabulary.load(str(path))
    assert loaded.words == vocab.words and loaded.counts.tolist() == [9, 4, 4]
    assert loaded.lookup_table().lookup(tf.constant(["of", "nope"])).numpy().tolist() == [1, -1]


def test_count_words_gives_back_its_tables_memory(tmp_path):
    # Over these 3 counts of 200,000 distinct words, a named table (kept in TF's
    # resource manager until the process ends) grew resident memory by 64 MiB, a
    # freed table's memory left in its malloc arena by 68; given back, by ~4.
    corpus = Corpus([str(write_distinct_words(tmp_path / "distinct.txt"))])
    count_words(corpus, "whitespace")  # TF's own one-off allocations
    before = memory_mib()
    for _ in range(3):
        words, word_counts, _ = count_words(corpus, "whitespace")
        assert len(words) == 200_000 and word_counts.sum() == 200_000
        del words, word_counts
    assert memory_mib() - before < 30


def test_a_vocab_file_keeps_its_order_and_the_filters_keep_it_too(tmp_path):
    (tmp_path / "v.tsv").write_text("fox\t3\nthe\t9\ndog\t1\nhen\t3\n", encoding="utf-8")
    vocab = Vocabulary.load(str(tmp_path / "v.tsv"))
    assert vocab.words == ["fox", "the", "dog", "hen"] and vocab.counts.tolist() == [3, 9, 1, 3]
    kept = vocab.filtered(min_count=2)
    assert kept.words == ["fox", "the", "hen"] and kept.counts.tolist() == [3, 9, 3]
    assert vocab.filtered(min_count=2, max_vocab_size=2).words == ["fox", "the"]
    with pytest.raises(UsageError, match="fewer than 2 words of the vocabulary"):
        vocab.filtered(min_count=5)


@pytest.mark.parametrize("content, message", [
    ("the\t2\nfox 1\n", "line 2: expected word<TAB>count"),
    ("the\t2\n\t1\n", "line 2: expected word<TAB>count"),
    ("the\t2\tx\n", "line 1: expected word<TAB>count"),
    ("the\t0\n", "line 1: the count of 'the' must be a positive integer, got '0'"),
    ("the\t2.5\n", "must be a positive integer, got '2.5'"),
    ("the\t\n", "must be a positive integer, got ''"),
    ("the\t2\nfox\t1\nthe\t1\n", "line 3: 'the' is also on line 1"),
    ("", "is empty"),
])
def test_a_malformed_vocab_file_is_named_with_its_line(tmp_path, content, message):
    (tmp_path / "v.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=re.escape(message)):
        Vocabulary.load(str(tmp_path / "v.tsv"))


def test_count_tokens_counts_what_count_words_counts_without_a_table(tmp_path, monkeypatch):
    from sg_keras import corpus

    monkeypatch.setattr(corpus, "BLOCK_CHARS", 64)  # many blocks
    (tmp_path / "c.txt").write_bytes(b"the Fox, the dog\n\n...\nfox \xff hen\n" * 20)
    _, _, expected = count_words(Corpus([str(tmp_path / "c.txt")]), "unicode")
    known, counts = count_tokens(Corpus([str(tmp_path / "c.txt")]), "unicode",
                                 Vocabulary(["fox", "hen", "cat"], np.array([3, 2, 1])))
    assert counts == expected and (counts.tokens, counts.sentences) == (120, 40)
    assert known == 60  # fox twice and hen once in each repetition


def test_max_vocab_size_bounds_the_counting_table_as_word2vec_c_prunes(tmp_path, monkeypatch):
    from sg_keras import corpus as corpus_lib, vocab as vocab_lib

    monkeypatch.setattr(corpus_lib, "BLOCK_CHARS", 2000)  # many blocks: pruning between them
    monkeypatch.setattr(vocab_lib, "TABLE_MIN_WORDS", 500)
    rng = np.random.default_rng(0)
    frequent = [f"f{i}" for i in range(20)]  # each seen 100 to 290 times, among 20,000 singletons
    tokens = [word for i, word in enumerate(frequent) for _ in range(100 + 10 * i)]
    tokens += [f"s{i}" for i in range(20_000)]
    tokens = [tokens[i] for i in rng.permutation(len(tokens))]
    (tmp_path / "c.txt").write_text("\n".join(" ".join(tokens[i:i + 50])
                                              for i in range(0, len(tokens), 50)))
    corpus = Corpus([str(tmp_path / "c.txt")])
    exact, exact_counts = count_vocabulary(corpus, "whitespace", min_count=1)
    assert exact_counts.pruned_below == 0 and len(exact) == 20_020
    bounded, counts = count_vocabulary(corpus, "whitespace", min_count=1, max_vocab_size=20)
    assert counts.pruned_below >= 1 and counts.tokens == exact_counts.tokens
    assert bounded.words == exact.words[:20] == frequent[::-1]
    # A word loses at most what it had counted when each pruning dropped it: 1 + 2 + … + p.
    lost = exact.counts[:20] - bounded.counts
    pruned = counts.pruned_below
    assert (lost >= 0).all() and (lost <= pruned * (pruned + 1) // 2).all()
    assert vocab_lib.table_bound(20) == 500 and vocab_lib.table_bound(0) == 0
