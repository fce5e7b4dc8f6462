"""The Keras classes of sg_keras (sg_keras.layers, sg_keras.schedules, sg_keras.model):
what each layer computes and saves, and every registered class's round trips through
its config (serialize_keras_object / deserialize_keras_object) and a .keras file."""

import json
import os

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import memory_mib
from sg_keras.layers import ContextSoftmax, InPlaceRandomUniform, WordEmbedding
from sg_keras.model import SkipGram
from sg_keras.schedules import LinearDecay

COUNTS = np.array([500, 200, 100, 50, 20, 10, 5, 5, 3, 1])
RNG = np.random.default_rng(0)


def serialised(instance):
    """``instance``'s config as a .keras file stores it: serialised, as JSON."""
    return json.loads(json.dumps(keras.saving.serialize_keras_object(instance)))


def round_trip(instance):
    """``instance`` rebuilt from its serialised config."""
    config = serialised(instance)
    assert config["registered_name"] == f"sg_keras>{type(instance).__name__}"
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(instance)
    assert serialised(clone) == config
    return clone


def assert_same_weights(first, second):
    assert [w.path for w in first.weights] == [w.path for w in second.weights]
    for ours, theirs in zip(first.weights, second.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def randomise(layer):
    for weight in layer.weights:
        weight.assign(RNG.normal(size=weight.shape))


# --- What the layers compute and save. ---

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


def trained_skip_gram(**settings):
    model = SkipGram(10, 8, **{"num_sampled": 4, "seed": 3, "noise_counts": COUNTS, **settings})
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.train_on_batch(tf.constant([1, 2, 3]), tf.constant([4, 5, 6]))
    return model


def h5_datasets(path):
    datasets = {}
    with h5py.File(path) as file:
        file.visititems(lambda name, item: datasets.__setitem__(name, item[()])
                        if isinstance(item, h5py.Dataset) else None)
    return datasets


def test_weight_files_are_the_ones_keras_own_save_writes(tmp_path, monkeypatch):
    model = trained_skip_gram()
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


# --- Round trips: every registered class, through its config and through a .keras file. ---

def test_the_initializer_round_trips_through_its_config():
    initializer = InPlaceRandomUniform(-0.3, 0.2, seed=5)
    clone = round_trip(initializer)
    assert clone.get_config() == initializer.get_config()
    np.testing.assert_array_equal(clone((7, 3)), initializer((7, 3)))  # the same draw


def test_the_schedule_round_trips_through_its_config():
    schedule = LinearDecay(0.1, 20, final_fraction=0.01)
    clone = round_trip(schedule)
    assert clone.get_config() == schedule.get_config()
    steps = range(0, 25, 3)
    np.testing.assert_array_equal([float(clone(s)) for s in steps],
                                  [float(schedule(s)) for s in steps])


LAYERS = {  # a layer, and an input it takes
    "WordEmbedding": (lambda: WordEmbedding(
        10, 4, embeddings_initializer=InPlaceRandomUniform(-0.5, 0.5, seed=2)),
        np.array([0, 3, 9, 3])),
    "ContextSoftmax": (lambda: ContextSoftmax(10), RNG.normal(size=(3, 4)).astype(np.float32)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_a_layer_round_trips_through_its_config(name):
    make, inputs = LAYERS[name]
    layer = make()
    layer(inputs)
    clone = round_trip(layer)
    clone(inputs)
    assert clone.get_config() == layer.get_config()
    assert_same_weights(clone, layer)  # made alike: seeded (or zero) initial weights
    randomise(layer)
    clone.set_weights(layer.get_weights())  # the same shapes: the same layer
    np.testing.assert_array_equal(clone(inputs), layer(inputs))


def test_the_layers_and_schedule_round_trip_through_a_keras_file(tmp_path):
    ids = keras.Input(shape=(), dtype="int32")
    initializer = InPlaceRandomUniform(-0.5, 0.5, seed=4)
    outputs = ContextSoftmax(10)(WordEmbedding(10, 4, embeddings_initializer=initializer)(ids))
    model = keras.Model(ids, outputs)
    randomise(model)
    schedule = LinearDecay(0.1, 20, final_fraction=0.01)
    model.compile(optimizer=keras.optimizers.SGD(schedule),
                  loss="sparse_categorical_crossentropy")
    model.train_on_batch(np.array([1, 2, 3]), np.array([4, 5, 6]))  # at step 1 of the schedule
    path = tmp_path / "layers.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    embedding = loaded.layers[1]
    assert isinstance(embedding, WordEmbedding)
    assert isinstance(embedding.embeddings_initializer, InPlaceRandomUniform)
    assert embedding.embeddings_initializer.get_config() == initializer.get_config()
    assert loaded.layers[2].get_config() == model.layers[2].get_config()
    assert_same_weights(loaded, model)
    inputs = np.array([0, 3, 9, 3])
    np.testing.assert_array_equal(loaded(inputs), model(inputs))
    learning_rate = loaded.optimizer.get_config()["learning_rate"]
    assert serialised(learning_rate) == serialised(schedule)
    assert int(loaded.optimizer.iterations) == 1
    assert float(loaded.optimizer.learning_rate) == float(schedule(1))


SETTINGS = dict(vocab_size=10, dim=8, negative=3, num_sampled=4, seed=3)  # none the default


def skip_gram(loss="sampled"):
    return SkipGram(**SETTINGS, loss=loss, noise_counts=COUNTS)


def settings_of(model):
    return {**{name: getattr(model, name) for name in SETTINGS}, "loss": model.loss_name}


def test_the_model_round_trips_through_its_config():
    model = skip_gram()
    clone = round_trip(model)
    assert clone.get_config() == model.get_config()
    assert settings_of(clone) == {**SETTINGS, "loss": "sampled"}
    # The config makes the same matrices (seeded); the noise distribution, made from
    # the word counts, is saved with the weights instead.
    np.testing.assert_array_equal(clone.word_vectors(), model.word_vectors())
    np.testing.assert_array_equal(clone.output_kernel(), model.output_kernel())
    randomise(model)
    clone.set_weights(model.get_weights())
    ids = tf.constant([0, 3, 9])
    np.testing.assert_array_equal(clone(ids), model(ids))


@pytest.mark.parametrize("loss", ["sampled", "negative", "softmax", "hs"])
def test_the_model_round_trips_through_a_keras_file(tmp_path, loss):
    model = skip_gram(loss)
    model.compile(optimizer=keras.optimizers.SGD(LinearDecay(0.025, 100)))
    model.embedding.embeddings.assign(RNG.normal(size=(10, 8)))
    model.context_softmax.kernel.assign(RNG.normal(size=(10, 8)))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, SkipGram)
    assert loaded.get_config() == model.get_config()
    assert settings_of(loaded) == {**SETTINGS, "loss": loss}
    assert_same_weights(loaded, model)
    np.testing.assert_array_equal(loaded.word_vectors(), model.word_vectors())
    np.testing.assert_array_equal(loaded.noise_cdf.numpy(), model.noise_cdf.numpy())
    ids = tf.constant([0, 3, 9])
    np.testing.assert_array_equal(loaded(ids), model(ids))
    # The objective too: the same losses of the same pairs and noise words.
    centre, context, seed = tf.constant([1, 2, 2]), tf.constant([4, 5, 0]), tf.constant([7, 1])
    np.testing.assert_array_equal(loaded.pair_losses(centre, context, noise_seed=seed),
                                  model.pair_losses(centre, context, noise_seed=seed))
    assert loaded.optimizer.get_config()["learning_rate"]["registered_name"] == \
        "sg_keras>LinearDecay"
