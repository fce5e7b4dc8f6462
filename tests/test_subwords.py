"""Subwords (fastText's skip-gram): n-grams and hash against gensim and fastText, the
SubwordEmbedding's vectors and updates, training, querying and serving unseen words,
fastText's .bin, bad input."""

import random
import struct

import keras
import numpy as np
import pytest
import tensorflow as tf
from gensim.models.fasttext_inner import compute_ngrams_bytes, ft_hash_bytes

from conftest import assert_usage_error, config_for, planted_corpus, sg_keras

from sg_keras import export, fasttext_format, subwords, training
from sg_keras.model import SkipGram
from sg_keras.objectives import LOSSES
from sg_keras.optimizers import RowSGD
from sg_keras.word_vectors import WordVectors

# Words of one to four UTF-8 bytes per character, and fastText's end-of-sentence token.
ALPHABET = "abcxyz<>éßüñ日本語中ö€𝄞 -_'"


def random_words(count, seed=0):
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))
            for _ in range(count)]


def test_ngrams_and_hash_are_gensims_and_fasttexts():
    words = random_words(300) + ["where", "banana", "</s>x"]
    for min_n, max_n in [(3, 6), (1, 2), (2, 5)]:
        ngrams = subwords.character_ngrams(tf.constant(words), min_n, max_n).to_list()
        for word, ours in zip(words, ngrams):
            assert sorted(ours) == sorted(compute_ngrams_bytes(word, min_n, max_n)), word
    flat = [ngram for word in ngrams for ngram in word]
    hashes = subwords.fasttext_hash(tf.constant(flat)).numpy()
    assert [int(h) for h in hashes] == [ft_hash_bytes(ngram) for ngram in flat]


def test_word_pieces_are_the_word_then_its_ngram_buckets():
    pieces = subwords.word_pieces(["where", "</s>", "ab"], 3, 4, 1000, chunk=2).to_list()
    buckets = [ft_hash_bytes(ngram) % 1000 for ngram in compute_ngrams_bytes("where", 3, 4)]
    assert pieces[0][0] == 0 and sorted(pieces[0][1:]) == sorted(3 + b for b in buckets)
    assert pieces[1] == [1]  # fastText's end-of-sentence token has no n-grams
    assert len(pieces[2]) == 1 + 2 + 1  # <ab ab> (3), <ab> (4)


def subword_model(loss="negative", words=("alpha", "alphas", "beta", "betas", "gamma"),
                  buckets=50):
    pieces = subwords.word_pieces(list(words), 2, 4, buckets)
    return SkipGram(len(words), 8, loss=loss, num_sampled=3, seed=2,
                    noise_counts=np.arange(len(words), 0, -1), word_pieces=pieces,
                    subwords={"buckets": buckets, "min_n": 2, "max_n": 4})


def fixed_draw(words):
    """A model's noise_words drawing ``words`` every time (for ``sampled``, in every draw)."""
    words = tf.constant(words, tf.int64)
    return lambda seed=None, draws=None: words if draws is None else tf.tile(words[None],
                                                                             [draws, 1])


def test_a_word_vector_is_the_mean_of_its_pieces_rows():
    model = subword_model()
    matrix = model.embedding.embeddings.numpy()
    pieces = model.embedding.word_pieces().to_list()
    expected = np.array([matrix[p].mean(axis=0) for p in pieces])
    np.testing.assert_allclose(model.word_vectors(), expected, rtol=1e-6)
    np.testing.assert_allclose(model.embedding(tf.constant([[3, 1]])).numpy()[0],
                               expected[[3, 1]], rtol=1e-6)
    np.testing.assert_array_equal(model.ngram_vectors(), matrix[5:])


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("fixed_length", [False, True])
def test_every_piece_of_a_word_gets_the_word_vectors_gradient(loss, fixed_length):
    # fastText's update: each piece row moves by the gradient of the word's vector,
    # not by its 1/n share; with fixed_length (multi_worker) padded to max_pieces rows each.
    model = subword_model(loss)
    model.context_softmax.kernel.assign(np.random.default_rng(1).normal(size=(5, 8)))
    model.noise_words = fixed_draw([0, 3, 4])
    model.gradient_rows_per_pair = fixed_length
    centre, context = tf.constant([1, 1, 0, 3], tf.int64), tf.constant([0, 2, 1, 4], tf.int64)
    losses, (embedding_grad, _) = model.losses_and_gradients(centre, context)
    hidden = model.embedding.rows(centre)
    with tf.GradientTape() as tape:
        tape.watch(hidden)
        if loss == "negative":
            output = model.context_softmax.kernel.value
            positive = tf.reduce_sum(hidden * tf.gather(output, context), 1)
            noise_logits = tf.matmul(hidden, tf.gather(output, [0, 3, 4]), transpose_b=True)
            hit = tf.cast(tf.constant([0, 3, 4], tf.int64)[None, :] == context[:, None],
                          tf.float32)
            expected = -tf.math.log_sigmoid(positive) - 5 / 3 * tf.reduce_sum(
                tf.math.log_sigmoid(-noise_logits) * (1 - hit), axis=1)
        else:
            expected = model.hidden_losses(hidden, context)
        total = tf.reduce_sum(expected)
    np.testing.assert_allclose(losses.numpy(), expected.numpy(), rtol=1e-5)
    hidden_grad = tf.convert_to_tensor(tape.gradient(total, hidden)).numpy()  # (hs: sparse)
    pieces = model.embedding.word_pieces().to_list()
    dense = np.zeros(model.embedding.embeddings.shape)
    for word, gradient in zip(centre.numpy(), hidden_grad):
        for piece in pieces[word]:
            dense[piece] += gradient
    if fixed_length:
        assert embedding_grad.values.shape[0] == 4 * model.embedding.max_pieces
    np.testing.assert_allclose(tf.convert_to_tensor(embedding_grad).numpy(), dense,
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_objective_trains_with_subwords(loss):
    model = subword_model(loss)
    model.compile(optimizer=RowSGD(0.01))  # (words share most rows: a smaller step)
    model.noise_words = fixed_draw([4, 2, 0])
    centre, context = tf.constant([0, 1, 2, 3] * 8), tf.constant([1, 0, 3, 2] * 8)
    first = float(tf.reduce_mean(model.pair_losses(centre, context)))
    for _ in range(30):
        model.train_on_batch(centre, context)
    assert float(tf.reduce_mean(model.pair_losses(centre, context))) < first


def test_row_sgd_applies_repeated_rows_as_sgd_does():
    rng = np.random.default_rng(3)
    start = rng.normal(size=(6, 3)).astype(np.float32)
    gradient = tf.IndexedSlices(tf.constant(rng.normal(size=(5, 3)), tf.float32),
                                tf.constant([4, 1, 4, 0, 4]))
    ours, theirs = keras.Variable(start), keras.Variable(start)
    RowSGD(0.1).apply([gradient], [ours])
    keras.optimizers.SGD(0.1).apply([gradient], [theirs])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_a_subword_model_round_trips_through_a_keras_file(tmp_path):
    model = subword_model()
    model.compile(optimizer=RowSGD(0.05))
    model.train_on_batch(tf.constant([0, 1]), tf.constant([1, 0]))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.get_config()["subwords"] == model.get_config()["subwords"]
    assert loaded.subwords["max_pieces"] == model.embedding.max_pieces
    np.testing.assert_array_equal(loaded.word_vectors(), model.word_vectors())
    np.testing.assert_array_equal(loaded.ngram_vectors(), model.ngram_vectors())
    centre, context = tf.constant([2, 3]), tf.constant([3, 2])
    seed = tf.constant([1, 2], tf.int64)
    np.testing.assert_array_equal(loaded.pair_losses(centre, context, noise_seed=seed),
                                  model.pair_losses(centre, context, noise_seed=seed))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A subword model trained on words that share their stems: cat0 … sky7."""
    work = tmp_path_factory.mktemp("subwords")
    planted_corpus(work / "corpus.txt")
    config = config_for(work / "corpus.txt", work / "run", min_n=2, max_n=4, buckets=5000)
    model, vocab, _ = training.train(config)
    return work, model, vocab


def test_training_writes_the_composed_vectors(trained):
    work, model, vocab = trained
    word_vectors = WordVectors.load(str(work / "run" / "vectors.txt"))
    np.testing.assert_allclose(word_vectors.vectors, model.word_vectors(), atol=1e-5)
    from_dir = WordVectors.from_model_dir(str(work / "run"))
    assert from_dir.has_subwords and from_dir.ngram_vectors.shape == (5000, 16)
    assert not from_dir.has_index_for("cat9") and "cat9" in from_dir
    neighbours = [word for word, _ in from_dir.most_similar("cat9", topn=3)]
    assert sum(word.startswith("cat") for word in neighbours) >= 2, neighbours


def test_similar_answers_unseen_words_from_their_ngrams(trained):
    work, _, _ = trained
    result = sg_keras("similar", f"--model_dir={work / 'run'}", "--top=3", "cat9")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "cat9 (not in the vocabulary: from its character n-grams):"
    assert sum(line.split()[0].startswith("cat") for line in lines[1:]) >= 2, lines


def test_evaluate_scores_pairs_of_unseen_words(trained, tmp_path):
    work, _, _ = trained
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("cat1 cat9 9\ncat2 sky9 1\ncar1 car3 8\nsea0 sky1 2\n")
    result = sg_keras("evaluate", f"--model_dir={work / 'run'}", f"--similarity={pairs}", "--json")
    assert result.returncode == 0, result.stderr
    import json
    figures = json.loads(result.stdout)["similarity"][str(pairs)]
    assert figures["pairs"] == 4 and figures["oov"] == 0


def test_the_export_answers_unseen_words_in_graph(trained, tmp_path):
    work, _, vocab = trained
    path = export.export_trained(str(work / "run"), str(tmp_path / "served"))
    served = tf.saved_model.load(path)
    word_vectors = WordVectors.from_model_dir(str(work / "run"))
    queries = ["cat1", "cat9", "CAT9x", ""]
    result = served.signatures["lookup"](words=tf.constant(queries))
    assert result["in_vocabulary"].numpy().tolist() == [True, False, False, False]
    vectors = result["embeddings"].numpy()
    np.testing.assert_array_equal(vectors[0], word_vectors["cat1"])
    np.testing.assert_allclose(vectors[1], word_vectors["cat9"], rtol=1e-5)
    assert not vectors[3].any()  # nothing to compose from
    nearest = served.signatures["nearest"](words=tf.constant(["cat9"]), k=tf.constant(3))
    expected = [word for word, _ in word_vectors.most_similar("cat9", topn=3)]
    assert [w.decode() for w in nearest["neighbors"].numpy()[0]] == expected
    analogy = served.signatures["analogy"](a=tf.constant(["cat1"]), b=tf.constant(["cat9"]),
                                           c=tf.constant(["car1"]), k=tf.constant(2))
    assert analogy["d"].numpy()[0][0] and not analogy["in_vocabulary"].numpy()[0]
    context = served.signatures["context"](words=tf.constant(["cat9"]), k=tf.constant(2))
    assert context["words"].numpy()[0][0]
    # The warmup file asks about an unseen word too.
    warmup = tf.data.TFRecordDataset(f"{path}/assets.extra/{export.WARMUP_FILE}")
    assert any(export.unseen_example(vocab.words).encode() in record.numpy()
               for record in warmup)


def test_resuming_with_other_ngram_settings_is_refused(trained):
    work, _, _ = trained
    result = sg_keras("train", f"--corpus={work / 'corpus.txt'}", f"--model_dir={work / 'run'}",
                      "--tokenizer=whitespace", "--max_n=5", "--min_n=2", "--buckets=5000")
    assert_usage_error(result, "holds a run with other settings")


@pytest.mark.parametrize("flags, message", [
    (["--max_n=6", "--min_n=0"], "--min_n must be at least 1"),
    (["--max_n=2", "--min_n=3"], "--max_n must be 0 (no subwords) or at least --min_n=3"),
    (["--max_n=6", "--buckets=0"], "--buckets must be at least 1"),
    (["--max_n=6", "--buckets=100000000000"], "--buckets=100000000000"),
])
def test_bad_subword_settings_are_refused(tmp_path, flags, message):
    (tmp_path / "corpus.txt").write_text("a b c\n")
    result = sg_keras("train", f"--corpus={tmp_path / 'corpus.txt'}",
                      f"--model_dir={tmp_path / 'run'}", *flags)
    assert_usage_error(result, message)
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def fasttext_model(tmp_path_factory):
    """A model trained by the fasttext package itself on a Zipfian corpus with non-ASCII words."""
    import fasttext  # a test dependency (setup.py's "test" extra)

    work = tmp_path_factory.mktemp("fasttext")
    rng = np.random.default_rng(0)
    syllables = ["ka", "to", "ri", "mé", "ßa", "日", "本", "lu", "nö", "pe"]
    words = sorted({"".join(rng.choice(syllables, rng.integers(1, 4))) for _ in range(400)})
    weights = 1 / np.arange(1, len(words) + 1)
    with open(work / "corpus.txt", "w", encoding="utf-8") as f:
        for _ in range(8000):
            f.write(" ".join(rng.choice(words, 12, p=weights / weights.sum())) + "\n")
    model = fasttext.train_unsupervised(str(work / "corpus.txt"), model="skipgram", dim=16,
                                        epoch=1, minn=2, maxn=5, bucket=200_000, thread=1,
                                        verbose=0)
    model.save_model(str(work / "model.bin"))
    return work, model


def test_fasttext_bin_vectors_are_fasttexts(fasttext_model):
    work, model = fasttext_model
    read = fasttext_format.load(str(work / "model.bin"))
    assert read.words == model.words and (read.min_n, read.max_n) == (2, 5)
    pieces = subwords.word_pieces(read.words, read.min_n, read.max_n, read.buckets).to_list()
    for word, own in zip(read.words[:50], pieces):
        assert sorted(own) == sorted(model.get_subwords(word)[1].tolist()), word
    word_vectors = WordVectors.load(str(work / "model.bin"))
    for word in read.words[:50] + ["kato", "日本語x", "zz", "é", "pelunöß"]:
        np.testing.assert_allclose(word_vectors[word] if word in word_vectors
                                   else 0, model.get_word_vector(word), atol=1e-6)


def test_a_fasttext_bin_exports_with_fasttexts_unseen_word_vectors(fasttext_model, tmp_path):
    work, model = fasttext_model
    result = sg_keras("export", f"--vectors={work / 'model.bin'}", "--tokenizer=whitespace",
                      f"--export_dir={tmp_path / 'served'}")
    assert result.returncode == 0, result.stderr
    served = tf.saved_model.load(str(tmp_path / "served" / "1"))
    seen = model.words[:20]
    unseen = ["kato", "日本語x", "zz", "é", "pelunöß", "mémé"]
    unseen = [word for word in unseen if word not in set(model.words)]
    answer = served.signatures["lookup"](words=tf.constant(seen + unseen))
    expected = np.array([model.get_word_vector(word) for word in seen + unseen])
    np.testing.assert_allclose(answer["embeddings"].numpy(), expected, atol=1e-6)
    assert answer["in_vocabulary"].numpy().tolist() == [True] * len(seen) + [False] * len(unseen)
    assert "context" in served.signatures  # a negative-sampling model's output layer


def test_a_truncated_or_foreign_bin_is_refused(fasttext_model, tmp_path):
    work, _ = fasttext_model
    data = (work / "model.bin").read_bytes()
    (tmp_path / "truncated.bin").write_bytes(data[:len(data) // 2])
    (tmp_path / "version.bin").write_bytes(struct.pack("<2i", fasttext_format.MAGIC, 99) + data[8:])
    for name, message in [("truncated.bin", "truncated fastText model"),
                          ("version.bin", "version 99 is not supported")]:
        result = sg_keras("export", f"--vectors={tmp_path / name}",
                          f"--export_dir={tmp_path / 'served'}")
        assert_usage_error(result, message)
        assert not (tmp_path / "served").exists()
