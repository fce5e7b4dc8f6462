import os

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import memory_mib
from sg_keras.model import (LOSSES, ContextSoftmax, InPlaceRandomUniform, LinearDecay, SkipGram,
                            WordEmbedding, noise_distribution, read_in_place)

COUNTS = np.array([500, 200, 100, 50, 20, 10, 5, 5, 3, 1])


def make_model(loss="negative", vocab_size=10, dim=8):
    return SkipGram(vocab_size, dim, loss=loss, num_sampled=4, seed=3,
                    noise_counts=COUNTS[:vocab_size] if vocab_size <= 10 else None)


def test_call_gives_a_distribution_over_the_vocabulary():
    model = make_model()
    model.context_softmax.kernel.assign(np.random.default_rng(0).normal(size=(10, 8)))
    probabilities = model(tf.constant([0, 3, 9])).numpy()
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    # The hidden layer is an Embedding lookup: row i of the V x d matrix is word i's vector.
    np.testing.assert_array_equal(model.word_vectors()[3], model.embedding(tf.constant(3)).numpy())


def shares_buffer(first, second):
    return np.shares_memory(np.asarray(first), np.asarray(second))


def trained_one_step(model):
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.train_on_batch(tf.constant([1, 2, 3]), tf.constant([4, 5, 6]))


def test_word_vectors_are_a_read_only_snapshot():
    model = make_model()
    trained_one_step(model)
    vectors = model.word_vectors()
    before = vectors.copy()
    with pytest.raises(ValueError, match="read-only"):
        vectors[0, 0] = 1.0
    model.train_on_batch(tf.constant([1, 2, 3]), tf.constant([4, 5, 6]))
    np.testing.assert_array_equal(vectors, before)
    assert not np.array_equal(model.word_vectors(), before)


def test_a_sparsely_updated_variable_is_read_in_place():
    model = make_model()
    trained_one_step(model)  # sparse updates: TensorFlow now copies the matrices on each read
    kernel = model.context_softmax.kernel
    assert not shares_buffer(tf.convert_to_tensor(kernel.value), tf.convert_to_tensor(kernel.value))
    assert shares_buffer(read_in_place(kernel), read_in_place(kernel))
    assert shares_buffer(read_in_place(kernel), tf.convert_to_tensor(kernel.value))


def test_saving_reads_the_matrices_in_place(tmp_path):
    model = make_model()
    trained_one_step(model)
    model.save_weights(tmp_path / "model.weights.h5")
    for variable in (model.embedding.embeddings, model.context_softmax.kernel):
        assert shares_buffer(tf.convert_to_tensor(variable.value),
                             tf.convert_to_tensor(variable.value))


def test_in_place_random_uniform_draws_keras_values():
    for seed in (0, 7):
        np.testing.assert_array_equal(
            InPlaceRandomUniform(-0.5, 0.5, seed=seed)((300, 20)),
            keras.initializers.RandomUniform(-0.5, 0.5, seed=seed)((300, 20)))


def peak_rise_mib(function):
    """How far this process's resident memory peaks above where it was, while function runs."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")  # the peak (VmHWM) starts again from the current size
    before = memory_mib()
    function()
    return memory_mib("VmHWM") - before


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="needs Linux's /proc/self/clear_refs to reset the peak")
def test_the_word_vectors_take_their_own_memory_only_while_built():
    # Keras' RandomUniform, run eagerly, makes a draw, a scaled and a shifted
    # [V, d] tensor (peak about 3x the matrix, kept by TF's allocator); here 1x.
    vocab_size, dim = 250_000, 100
    matrix_mib = vocab_size * dim * 4 / 2**20
    layer = WordEmbedding(vocab_size, dim,
                          embeddings_initializer=InPlaceRandomUniform(-0.005, 0.005, seed=1))
    assert peak_rise_mib(lambda: layer.build((None,))) < 1.5 * matrix_mib


def h5_datasets(path):
    datasets = {}
    with h5py.File(path) as file:
        file.visititems(lambda name, item: datasets.__setitem__(name, item[()])
                        if isinstance(item, h5py.Dataset) else None)
    return datasets


def test_weight_files_are_the_ones_keras_own_save_writes(tmp_path, monkeypatch):
    model = make_model()
    trained_one_step(model)
    model.save_weights(tmp_path / "in_place.weights.h5")
    monkeypatch.setattr(WordEmbedding, "save_own_variables",
                        keras.layers.Embedding.save_own_variables)
    monkeypatch.setattr(ContextSoftmax, "save_own_variables",
                        keras.layers.Layer.save_own_variables)
    model.save_weights(tmp_path / "keras.weights.h5")
    in_place, by_keras = (h5_datasets(tmp_path / f"{name}.weights.h5")
                          for name in ("in_place", "keras"))
    assert sorted(in_place) == sorted(by_keras)
    assert {"embedding/vars/0", "context_softmax/vars/0"} <= set(in_place)
    for name, value in in_place.items():
        np.testing.assert_array_equal(value, by_keras[name])


def test_output_layer_is_dense_softmax_with_transposed_kernel():
    hidden = np.random.default_rng(1).normal(size=(4, 8)).astype(np.float32)
    kernel = np.random.default_rng(2).normal(size=(10, 8)).astype(np.float32)
    layer = ContextSoftmax(10)
    layer.build((None, 8))
    layer.kernel.assign(kernel)
    dense = keras.layers.Dense(10, use_bias=False, activation="softmax")
    dense.build((None, 8))
    dense.kernel.assign(kernel.T)
    np.testing.assert_allclose(layer(hidden), dense(hidden), rtol=1e-5)


def test_config_and_keras_file_round_trip(tmp_path):
    model = make_model("sampled")
    model.compile(optimizer=keras.optimizers.SGD(LinearDecay(0.025, 100)))
    model.embedding.embeddings.assign(np.random.default_rng(0).normal(size=(10, 8)))
    clone = SkipGram.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.word_vectors(), model.word_vectors())
    np.testing.assert_array_equal(loaded.noise_cdf.numpy(), model.noise_cdf.numpy())


def test_linear_decay_schedule():
    schedule = LinearDecay(0.025, 1000)
    assert float(schedule(0)) == pytest.approx(0.025)
    assert float(schedule(500)) == pytest.approx(0.025 * (1 - (1 - 1e-4) / 2))
    assert float(schedule(1000)) == pytest.approx(0.025 * 1e-4, rel=1e-3)  # float32
    assert float(schedule(5000)) == pytest.approx(0.025 * 1e-4, rel=1e-3)
    assert LinearDecay.from_config(schedule.get_config()).total_steps == 1000


def test_noise_is_drawn_from_unigram_to_the_three_quarters():
    model = make_model()
    draws = model._noise(200_000).numpy()
    observed = np.bincount(draws, minlength=10) / len(draws)
    np.testing.assert_allclose(observed, noise_distribution(COUNTS), atol=0.004)
    np.testing.assert_allclose(model._noise_probability(tf.constant([0, 9])).numpy(),
                               noise_distribution(COUNTS)[[0, 9]], rtol=1e-4)


@pytest.mark.parametrize("loss", ["negative", "sampled"])
def test_approximate_objectives_update_only_the_rows_they_touch(loss):
    vocab_size = 1000
    model = SkipGram(vocab_size, 8, loss=loss, num_sampled=4, seed=3,
                     noise_counts=np.full(vocab_size, 5))
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    centre, context = tf.constant([1, 2, 3]), tf.constant([4, 5, 6])
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(model.pair_losses(centre, context))
    gradients = tape.gradient(total, model.trainable_variables)
    assert all(isinstance(g, tf.IndexedSlices) for g in gradients)
    model.context_softmax.kernel.assign(np.random.default_rng(0).normal(size=(vocab_size, 8)))
    embedding_before = model.word_vectors().copy()
    output_before = model.context_softmax.kernel.numpy().copy()
    model.train_on_batch(centre, context)
    changed = np.flatnonzero(np.any(model.word_vectors() != embedding_before, axis=1))
    assert set(changed) == {1, 2, 3}
    changed_outputs = np.flatnonzero(
        np.any(model.context_softmax.kernel.numpy() != output_before, axis=1))
    assert {4, 5, 6} <= set(changed_outputs) and len(changed_outputs) <= 3 + 4


def test_softmax_objective_is_the_exact_cross_entropy():
    model = make_model("softmax")
    rng = np.random.default_rng(4)
    model.context_softmax.kernel.assign(rng.normal(size=(10, 8)))
    centre, context = tf.constant([0, 1, 2]), tf.constant([3, 4, 5])
    probabilities = model(centre).numpy()
    expected = -np.log(probabilities[np.arange(3), [3, 4, 5]])
    np.testing.assert_allclose(model.pair_losses(centre, context).numpy(), expected, rtol=1e-4)


def test_hand_derived_softmax_gradients_match_autodiff():
    model = make_model("softmax")
    rng = np.random.default_rng(6)
    model.embedding.embeddings.assign(rng.normal(size=(10, 8)))
    model.context_softmax.kernel.assign(rng.normal(size=(10, 8)))
    centre, context = tf.constant([2, 2, 7, 0, 9]), tf.constant([1, 3, 3, 0, 8])
    losses, gradients = model.softmax_cross_entropy(centre, context)
    variables = [model.embedding.embeddings, model.context_softmax.kernel]
    with tf.GradientTape() as tape:
        expected = model.pair_losses(centre, context)  # sparse_softmax_cross_entropy_with_logits
        total = tf.reduce_sum(expected)
    np.testing.assert_allclose(losses.numpy(), expected.numpy(), rtol=1e-5)
    for ours, theirs in zip(gradients, tape.gradient(total, variables)):
        np.testing.assert_allclose(tf.convert_to_tensor(ours).numpy(),
                                   tf.convert_to_tensor(theirs).numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", LOSSES)
def test_train_step_lowers_the_loss_of_a_repeated_batch(loss):
    model = make_model(loss)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    centre, context = tf.constant([0, 1, 2, 3] * 8), tf.constant([1, 0, 3, 2] * 8)
    first = model.train_on_batch(centre, context, return_dict=True)["loss"]
    for _ in range(30):
        last = model.train_on_batch(centre, context, return_dict=True)["loss"]
    assert last < first


@pytest.mark.parametrize("centre, context", [
    ([2, 3, 2, 9], [1, 4, 5, 7]),
    # runs of one centre word share noise logits; noise words 1 and 7 hit contexts
    ([2, 2, 3, 2, 9, 9, 9], [1, 4, 5, 7, 7, 1, 9]),
])
@pytest.mark.parametrize("pair_rows", [False, True])
@pytest.mark.parametrize("scale", [1.0, 8.0])  # 8: logits far into σ's flat tails (±100s)
def test_hand_derived_negative_sampling_gradients_match_autodiff(centre, context, pair_rows,
                                                                 scale):
    model = make_model("negative")
    rng = np.random.default_rng(5)
    model.embedding.embeddings.assign(scale * rng.normal(size=(10, 8)))
    model.context_softmax.kernel.assign(scale * rng.normal(size=(10, 8)))
    noise = tf.constant([0, 1, 1, 7], tf.int64)
    model._noise = lambda count: noise  # the same draw for both computations
    centre, context = tf.constant(centre), tf.constant(context)
    losses, gradients = model.negative_sampling(centre, context, pair_rows=pair_rows)
    variables = [model.embedding.embeddings, model.context_softmax.kernel]
    with tf.GradientTape() as tape:
        hidden = tf.gather(variables[0].value, tf.cast(centre, tf.int64))
        output = variables[1].value
        positive = tf.reduce_sum(hidden * tf.gather(output, tf.cast(context, tf.int64)), 1)
        noise_logits = tf.matmul(hidden, tf.gather(output, noise), transpose_b=True)
        hit = tf.cast(noise[None, :] == tf.cast(context, tf.int64)[:, None], tf.float32)
        expected = -tf.math.log_sigmoid(positive) - 5 / 4 * tf.reduce_sum(
            tf.math.log_sigmoid(-noise_logits) * (1 - hit), axis=1)
        total = tf.reduce_sum(expected)
    np.testing.assert_allclose(losses.numpy(), expected.numpy(), rtol=1e-5)
    if pair_rows:
        assert gradients[0].values.shape[0] == len(centre)
    for ours, theirs in zip(gradients, tape.gradient(total, variables)):
        np.testing.assert_allclose(tf.convert_to_tensor(ours).numpy(),
                                   tf.convert_to_tensor(theirs).numpy(), rtol=1e-4, atol=1e-6)
