import collections

import numpy as np
import pytest
import tensorflow as tf

from sg_keras import pairs
from sg_keras.corpus import Corpus
from sg_keras.vocab import Vocabulary, count_vocabulary

FOX = "The quick brown fox jumps over the lazy dog."


def test_window_2_gives_the_tutorial_table():
    assert pairs.explain_pairs(FOX, window=2) == [
        ("the", ["quick", "brown"]),
        ("quick", ["the", "brown", "fox"]),
        ("brown", ["the", "quick", "fox", "jumps"]),
        ("fox", ["quick", "brown", "jumps", "over"]),
        ("jumps", ["brown", "fox", "over", "the"]),
        ("over", ["fox", "jumps", "the", "lazy"]),
        ("the", ["jumps", "over", "lazy", "dog"]),
        ("lazy", ["over", "the", "dog"]),
        ("dog", ["the", "lazy"]),
    ]


def test_pairs_never_cross_sentences():
    values = tf.range(5)
    sentence_ids = tf.constant([0, 0, 0, 1, 1], tf.int64)
    centres, contexts = pairs.skipgram_pairs(values, sentence_ids, tf.fill([5], 3), 3)
    got = sorted(zip(centres.numpy().tolist(), contexts.numpy().tolist()))
    assert got == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (3, 4), (4, 3)]


def test_shrunk_windows_are_drawn_per_centre_word_from_1_to_window():
    groups = pairs.explain_pairs(" ".join(f"w{i}" for i in range(400)), window=5,
                                 shrink_window=True)
    right_reach = [sum(1 for c in ctx if int(c[1:]) > int(centre[1:]))
                   for centre, ctx in groups[:390]]
    assert set(right_reach) == {1, 2, 3, 4, 5}
    assert abs(np.mean(right_reach) - 3.0) < 0.3  # E[b] for b ~ U{1..5}


def word2vec_c_keep_rate(counts, sample):
    """The share of word2vec.c's draws that keep each word, counted over all of them.

    word2vec.c (TrainModelThread) discards a word when
    ``ran < (next_random & 0xFFFF) / 65536`` with
    ``ran = (sqrt(cn / (sample * train_words)) + 1) * (sample * train_words) / cn``:
    its random number takes each of the 65,536 values 0/65536 … 65535/65536 alike.
    """
    train_words = sum(counts)
    draws = np.arange(65536) / 65536
    rates = []
    for cn in counts:
        ran = (np.sqrt(cn / (sample * train_words)) + 1) * (sample * train_words) / cn
        rates.append(np.mean(~(ran < draws)))
    return np.array(rates)


def test_keep_probability_is_word2vec_cs_keep_rule():
    # t·T = 100: counts of 16, 9, 4 and 1 times t·T, by hand (sqrt(r) + 1) / r, at most 1.
    counts = np.array([1600, 900, 400, 100])
    t = 1 / 30
    np.testing.assert_allclose(pairs.keep_probabilities(counts, t), [5 / 16, 4 / 9, 3 / 4, 1],
                               rtol=1e-6)
    assert pairs.keep_probabilities(counts, 0).tolist() == [1, 1, 1, 1]
    # word2vec.c's rule, simulated over its random numbers (a step of 1/65536).
    zipf = np.array([50_000 // rank for rank in range(1, 400)])
    for sample in (1e-3, 1e-4, 1e-5):
        np.testing.assert_allclose(pairs.keep_probabilities(zipf, sample),
                                   word2vec_c_keep_rate(zipf, sample), rtol=0, atol=2 / 65536)
    assert pairs.keep_probabilities(zipf, 1e-5)[0] < 0.05  # the rule really discards


def test_keep_probability_agrees_with_gensim():
    word2vec = pytest.importorskip("gensim.models.word2vec")
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(300)]
    sentences = [list(rng.choice(words, 50, p=np.arange(300, 0, -1) / 45150))
                 for _ in range(400)]
    model = word2vec.Word2Vec(vector_size=4, min_count=1, sample=1e-3, workers=1)
    model.build_vocab(sentences)
    counts = [model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key]
    gensim_keep = [model.wv.get_vecattr(w, "sample_int") / (2**32 - 1)
                   for w in model.wv.index_to_key]
    assert min(gensim_keep) < 0.5
    np.testing.assert_allclose(pairs.keep_probabilities(counts, 1e-3), gensim_keep, rtol=1e-6)


def make_generator(tmp_path, sample, lines):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = Corpus([str(path)])
    vocab, counts = count_vocabulary(corpus, "whitespace", min_count=1)
    return corpus, vocab, counts, pairs.PairGenerator(vocab, 3, sample, True, "whitespace")


def test_subsampling_keeps_frequent_words_at_the_formula_rate(tmp_path):
    rng = np.random.default_rng(0)
    tokens = np.where(rng.random(20000) < 0.5, "the", np.char.add("w", rng.integers(0, 500, 20000).astype(str)))
    corpus, vocab, _, generator = make_generator(tmp_path, 1e-3, [" ".join(tokens)])
    ids, _, _ = generator.kept_tokens(tf.constant([" ".join(tokens)]), tf.constant([3, 4], tf.int64))
    kept_the = int(np.sum(ids.numpy() == 0))
    expected = word2vec_c_keep_rate(vocab.counts, 1e-3)[0] * vocab.counts[0]
    assert vocab.words[0] == "the"
    assert abs(kept_the - expected) < 4 * np.sqrt(expected)


def test_dataset_runs_no_autotuning_thread(tmp_path):
    # Deleting an iterator waits out the autotuning thread's sleep (up to a minute).
    corpus, _, _, generator = make_generator(tmp_path, 0.0, ["a b c d"] * 10)
    for repeat in (False, True):
        assert generator.dataset(corpus, 4, 1, repeat).options().autotune.enabled is False


def test_dataset_is_reproducible_and_redraws_each_epoch(tmp_path):
    rng = np.random.default_rng(1)
    lines = [" ".join(f"w{i}" for i in rng.integers(0, 50, 20)) for _ in range(300)]
    corpus, vocab, counts, generator = make_generator(tmp_path, 1e-2, lines)

    def epochs(seed):
        dataset = generator.dataset(corpus, 256, seed)
        return [np.concatenate([c.numpy() for c, _ in dataset]) for _ in range(2)]

    first, second = epochs(7), epochs(7)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0][:500], first[1][:500])
    expected = pairs.expected_pairs(vocab.counts, 1e-2, 3, True, counts.sentences)
    assert abs(len(first[0]) - expected) < 0.05 * expected
    for batch, _ in generator.dataset(corpus, 256, 7).take(3):
        assert batch.shape == (256,)


def tutorial_pairs(sentences, window):
    """The TF word2vec tutorial's sliding window, in pure Python: each word paired with
    every other word at most ``window`` positions away in its sentence."""
    found = collections.Counter()
    for sentence in sentences:
        words = sentence.split()
        for i, centre in enumerate(words):
            for j in range(max(0, i - window), min(len(words), i + window + 1)):
                if j != i:
                    found[centre, words[j]] += 1
    return found


@pytest.mark.parametrize("window", [1, 2, 5])
def test_pairs_are_the_tutorials_sliding_window(window):
    rng = np.random.default_rng(window)
    vocabulary = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog"]
    sentences = [FOX.lower().rstrip("."), "dog", "", "the the the dog the",
                 *(" ".join(rng.choice(vocabulary, rng.integers(1, 15))) for _ in range(20))]
    vocab = Vocabulary.from_counts(vocabulary, [1] * len(vocabulary), min_count=1)
    generator = pairs.PairGenerator(vocab, window, sample=0, shrink_window=False,
                                    tokenizer="whitespace")
    centres, contexts = generator.block_pairs(tf.constant(sentences),
                                              tf.constant([5, 6], tf.int64))
    got = collections.Counter((vocab.words[c], vocab.words[x])
                              for c, x in zip(centres.numpy(), contexts.numpy()))
    expected = tutorial_pairs(sentences, window)
    assert got == expected
    assert sum(expected.values()) > 100
