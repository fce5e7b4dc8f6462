import numpy as np
import tensorflow as tf

from sg_keras import pairs, text
from sg_keras.vocab import build_vocabulary, count_words

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


def test_keep_probability_is_word2vec_formula():
    counts = np.array([1000, 100, 10, 1])
    t = 1e-2
    threshold = t * counts.sum()
    expected = np.minimum((np.sqrt(counts / threshold) + 1) * threshold / counts, 1)
    np.testing.assert_allclose(pairs.keep_probabilities(counts, t), expected, rtol=1e-6)
    assert pairs.keep_probabilities(counts, 0).tolist() == [1, 1, 1, 1]


def make_generator(tmp_path, sample, lines):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = text.Corpus([str(path)])
    counter, counts = count_words(corpus, "whitespace")
    vocab = build_vocabulary(counter, min_count=1)
    return corpus, vocab, counts, pairs.PairGenerator(vocab, 3, sample, True, "whitespace")


def test_subsampling_keeps_frequent_words_at_the_formula_rate(tmp_path):
    rng = np.random.default_rng(0)
    tokens = np.where(rng.random(20000) < 0.5, "the", np.char.add("w", rng.integers(0, 500, 20000).astype(str)))
    corpus, vocab, _, generator = make_generator(tmp_path, 1e-3, [" ".join(tokens)])
    ids, _, _ = generator.kept_tokens(tf.constant([" ".join(tokens)]), tf.constant([3, 4], tf.int64))
    kept_the = int(np.sum(ids.numpy() == 0))
    expected = pairs.keep_probabilities(vocab.counts, 1e-3)[0] * vocab.counts[0]
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
