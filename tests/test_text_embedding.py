"""Word vectors in Keras models: sg_keras.TextEmbedding and TFSMLayer on the export's embed."""

import io
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from sg_keras import export, training
from sg_keras.text_embedding import TextEmbedding
from sg_keras.word_vectors import WordVectors

from conftest import REPO

FINANCE = ["stocks", "fell", "market", "slid", "shares", "rose", "on", "bank", "prices"]
SPORT = ["team", "won", "cup", "final", "players", "scored", "late", "goal", "match"]
TOY = WordVectors(["good", "great", "bad", "awful", "film"],
                  np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.1, 0.9, 0], [0, 0, 1]],
                           np.float32))


def readme_keras_example():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### Word vectors in a Keras model\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A directory holding runs/demo (two topics of words with "the" and "a" between them)
    and its export saved_models/demo, as the README's Python example makes them."""
    work = tmp_path_factory.mktemp("demo")
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(FINANCE if i % 2 else SPORT, 8).tolist() + ["the", "a", "as"])
             for i in range(600)]
    (work / "corpus.txt").write_text("\n".join(lines) + "\n")
    training.train(training.TrainConfig(
        corpus=[str(work / "corpus.txt")], model_dir=str(work / "runs" / "demo"), dim=16,
        window=3, min_count=1, sample=0.0, epochs=5, batch_size=256, tokenizer="whitespace"))
    export.export_trained(str(work / "runs" / "demo"), str(work / "saved_models" / "demo"))
    return work


def test_the_layer_combines_known_words_as_sqrt_n():
    layer = TextEmbedding.from_word_vectors(TOY, tokenizer="whitespace")
    out = layer(tf.constant(["good good film", "awful unknown", "nothing known", ""])).numpy()
    np.testing.assert_allclose(out[0], (2 * TOY["good"] + TOY["film"]) / np.sqrt(3), rtol=1e-6)
    np.testing.assert_allclose(out[1], TOY["awful"], rtol=1e-6)  # the unknown word left out
    assert not out[2:].any()


def test_the_config_round_trips():
    layer = TextEmbedding.from_word_vectors(TOY, tokenizer="whitespace", trainable=True)
    clone = TextEmbedding.from_config(layer.get_config())
    assert (clone.vocabulary, clone.output_dim, clone.tokenizer, clone.trainable) == \
        (TOY.index_to_key, 3, "whitespace", True)


def test_the_layer_equals_the_exports_embed(tmp_path):
    sentences = ["Good film", "the GREAT, bad film!", "awful", "unknown words only"]
    served = tf.saved_model.load(export.export(tmp_path / "toy", TOY.index_to_key, TOY.vectors,
                                               "unicode"))
    expected = served.signatures["embed"](sentences=tf.constant(sentences))["embeddings"]
    layer = TextEmbedding.from_word_vectors(TOY, tokenizer="unicode")
    np.testing.assert_allclose(layer(tf.constant(sentences)), expected, rtol=1e-6)


def test_a_frozen_layer_keeps_its_vectors_and_a_trainable_one_tunes_the_words_it_saw():
    sentences = tf.constant(["good film", "great film", "bad film", "awful film"])
    labels = np.array([1, 1, 0, 0])
    for trainable in (False, True):
        layer = TextEmbedding.from_word_vectors(TOY, tokenizer="whitespace",
                                                trainable=trainable)
        inputs = keras.Input(shape=(), dtype="string")
        model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(layer(inputs)))
        model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy")
        model.fit(sentences, labels, epochs=3, verbose=0)
        rows = layer.embedding.embeddings.numpy()[1:]  # row 0: the out-of-vocabulary index
        changed = np.abs(rows - TOY.vectors).sum(axis=1) > 0
        assert changed.tolist() == ([True] * 5 if trainable else [False] * 5)


def test_the_readme_example_trains_both_classifiers_and_the_keras_file_loads(demo,
                                                                              monkeypatch):
    monkeypatch.chdir(demo)
    example = {}
    exec(readme_keras_example(), example)
    sentences, labels = example["sentences"], example["labels"]
    for name in ("classifier", "served_classifier"):
        _, accuracy = example[name].evaluate(sentences, labels, verbose=0)
        assert accuracy == 1.0, name
    embedding = example["embedding"]
    np.testing.assert_array_equal(embedding.embedding.embeddings.numpy()[1:],
                                  WordVectors.from_model_dir("runs/demo").vectors)  # frozen
    np.testing.assert_allclose(embedding(sentences), example["served"](sentences)["embeddings"],
                               rtol=1e-5, atol=1e-6)

    expected = example["classifier"].predict(sentences, verbose=0)
    loaded = subprocess.run(
        [sys.executable, "-c", "import keras, numpy as np, sys, tensorflow as tf, "
         "sg_keras.text_embedding; model = keras.saving.load_model('classifier.keras'); "
         "np.save(sys.stdout.buffer, model.predict(tf.constant(sys.argv[1:]), verbose=0))",
         *[sentence.decode() for sentence in sentences.numpy()]], capture_output=True,
        check=True)
    np.testing.assert_allclose(np.load(io.BytesIO(loaded.stdout)), expected,
                               rtol=1e-6)
