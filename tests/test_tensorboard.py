"""TensorBoard as a user sees it: a real server on a tiny model's logs, and a real browser.

The module trains one tiny model on the planted corpus, starts ``tensorboard``
on its ``logs/`` (127.0.0.1, a free port) and checks the dashboards over HTTP;
headless Chromium (Debian's package) then opens the Embedding Projector and a
screenshot is kept in test-artifacts/projector.png.
"""

import io
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins.projector import ProjectorConfig

import live_tensorboard
from conftest import REPO, assert_usage_error, config_for, planted_corpus, sg_keras
from sg_keras import projector, training
from sg_keras.callbacks import probe_word_ids
from sg_keras.errors import UsageError
from sg_keras.vocab import Vocabulary

EPOCHS = 2
POINT_COLOUR = (117, 117, 217)  # the projector's colour of unselected points, 0x7575D9


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tensorboard")
    planted_corpus(root / "corpus.txt")
    model, vocab, history = training.train(
        config_for(root / "corpus.txt", root / "model", epochs=EPOCHS))
    return root / "model", model.word_vectors(), vocab, history.history


@pytest.fixture(scope="module")
def server(trained):
    model_dir = trained[0]
    with live_tensorboard.tensorboard(model_dir / "logs") as url:
        live_tensorboard.wait_for(  # decided in the background after start-up
            lambda: live_tensorboard.get_json(f"{url}/data/plugins_listing")["projector"]["enabled"],
            60, "the projector plugin to become active")
        yield url


def event_values(run_dir, tag):
    """(step, value) of every summary ``tag`` in the event files of run_dir, as written."""
    found = []
    for name in sorted(os.listdir(run_dir)):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(run_dir, name)):
                found += [(event.step, tf.make_ndarray(value.tensor))
                          for value in event.summary.value if value.tag == tag]
    return found


def served(url, at_least):
    """The JSON list at url once it has at_least items (TensorBoard reads event files in the
    background, so a run may be listed before all its points are)."""
    def enough():
        items = live_tensorboard.get_json(url)
        return len(items) >= at_least and items

    return live_tensorboard.wait_for(enough, 30, f"{at_least} items from {url}")


def test_projector_files_are_written_at_the_end_of_training(trained):
    model_dir, vectors, vocab, _ = trained
    run_dir = model_dir / "logs" / "embeddings"
    config = text_format.Parse((run_dir / "projector_config.pbtxt").read_text(), ProjectorConfig())
    [embedding] = config.embeddings
    assert embedding.tensor_name == "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    assert embedding.metadata_path == "metadata.tsv"
    checkpoint = tf.train.load_checkpoint(str(run_dir))
    np.testing.assert_array_equal(checkpoint.get_tensor(embedding.tensor_name), vectors)
    rows = (run_dir / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert rows == ["word\tcount"] + [f"{w}\t{c}" for w, c in zip(vocab.words, vocab.counts)]
    np.testing.assert_allclose(np.loadtxt(run_dir / "vectors.tsv", delimiter="\t"), vectors,
                               rtol=1e-5, atol=1e-7)
    assert not [name for name in os.listdir(run_dir) if name.startswith(".tmp")]


def test_server_lists_the_projector_run_its_tensor_and_metadata(trained, server):
    _, vectors, vocab, _ = trained
    plugin = f"{server}/data/plugin/projector"
    assert live_tensorboard.get_json(f"{plugin}/runs") == ["embeddings"]
    [embedding] = live_tensorboard.get_json(f"{plugin}/info?run=embeddings")["embeddings"]
    name = embedding["tensorName"]
    assert name == projector.TENSOR_NAME
    assert embedding["tensorShape"] == [len(vocab), 16]
    tensor = np.frombuffer(live_tensorboard.http_get(f"{plugin}/tensor?run=embeddings&name={name}"),
                           np.float32).reshape(len(vocab), 16)
    np.testing.assert_array_equal(tensor, vectors)
    metadata = live_tensorboard.http_get(
        f"{plugin}/metadata?run=embeddings&name={name}").decode("utf-8").splitlines()
    assert metadata[0] == "word\tcount"
    assert [row.split("\t")[0] for row in metadata[1:]] == vocab.words
    assert [int(row.split("\t")[1]) for row in metadata[1:]] == vocab.counts.tolist()


def test_server_returns_the_loss_series_with_one_point_per_logged_step(trained, server):
    model_dir, _, _, history = trained
    scalars = f"{server}/data/plugin/scalars/scalars?run=train&tag="
    logged = event_values(model_dir / "logs" / "train", "batch_loss")
    steps = [step for step, _ in logged]
    assert len(steps) > EPOCHS and steps == sorted(set(steps))  # one point per step
    points = served(scalars + "batch_loss", len(steps))
    assert [step for _, step, _ in points] == steps
    np.testing.assert_allclose([value for _, _, value in points],
                               [float(value) for _, value in logged], rtol=1e-6)
    epochs = served(scalars + "epoch_loss", EPOCHS)
    assert [step for _, step, _ in epochs] == list(range(EPOCHS))
    np.testing.assert_allclose([value for _, _, value in epochs], history["loss"], rtol=1e-6)
    tags = live_tensorboard.get_json(f"{server}/data/plugin/scalars/tags")["train"]
    assert {"epoch_learning_rate", "epoch_words_per_sec", "batch_words_per_sec"} <= set(tags)


def test_server_shows_the_probe_words_nearest_neighbours_each_epoch(trained, server):
    _, _, vocab, _ = trained
    entries = served(f"{server}/data/plugin/text/text?run=embeddings&tag=nearest_neighbours",
                     EPOCHS)
    assert [entry["step"] for entry in entries] == list(range(EPOCHS))
    table = entries[-1]["text"]
    probes = vocab.words[20:25]  # the default: the 21st to 25th most frequent words
    assert len(vocab) > 25 and all(f"<td>{word}</td>" in table for word in probes)
    first_row = table.split(f"<td>{probes[0]}</td>", 1)[1].split("</tr>", 1)[0]
    topic = probes[0].rstrip("0123456789")  # cat1 → cat: its neighbours are cat words
    assert first_row.count(topic) >= 7


def point_pixels(png):
    """How many pixels of a screenshot have the colour of the projector's points."""
    colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors(1 << 24)
    return sum(n for n, colour in colours if colour == POINT_COLOUR)


def test_browser_shows_every_point_of_the_projector(trained, server):
    _, _, vocab, _ = trained
    if live_tensorboard.chromium_executable() is None:
        pytest.fail("chromium is not installed: run scripts/install_chromium.sh")
    artefact = REPO / "test-artifacts" / "projector.png"
    artefact.parent.mkdir(exist_ok=True)
    with live_tensorboard.chromium() as page:
        page.navigate(f"{server}/#projector")

        def loaded():
            state = live_tensorboard.projector_state(page)
            assert not state["webgl_disabled"], "the projector says WebGL is unavailable"
            return state["positioned"] == len(vocab) and state

        def points_drawn():  # the 3-D view, drawn with WebGL (software rendering, no GPU)
            screenshot = page.screenshot()
            artefact.write_bytes(screenshot)  # the last one is kept, also on failure
            return point_pixels(screenshot) > 500

        state = live_tensorboard.wait_for(loaded, 90, "the projector to place every point")
        live_tensorboard.wait_for(points_drawn, 60, f"points drawn in {artefact}")
    assert state["points"] == str(len(vocab)) and state["dimension"] == "16"
    assert state["labels"] == vocab.words
    assert state["counts"] == vocab.counts.tolist()


def test_projector_command_writes_the_most_frequent_words(trained, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(trained[0], model_dir)  # the served model_dir stays as it is
    _, vectors, vocab, _ = trained
    result = sg_keras("projector", f"--model_dir={model_dir}", "--top=10")
    assert result.returncode == 0, result.stderr
    run_dir = model_dir / "logs" / "embeddings"
    assert f"projector files for 10 words written to {run_dir}" in result.stdout
    checkpoint = tf.train.load_checkpoint(str(run_dir))
    np.testing.assert_array_equal(checkpoint.get_tensor(projector.TENSOR_NAME), vectors[:10])
    rows = (run_dir / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[1:] == [f"{w}\t{c}" for w, c in zip(vocab.words[:10], vocab.counts[:10])]
    assert len(np.loadtxt(run_dir / "vectors.tsv", delimiter="\t")) == 10


@pytest.mark.parametrize("args, message", [
    (["--model_dir=nowhere"], "no trained model in nowhere"),
    (["--model_dir=untrained"], "no trained model in untrained"),
    (["--model_dir=untrained", "--top=0"], "--top must be at least 1, got 0"),
])
def test_projector_command_rejects_bad_input(tmp_path, args, message):
    (tmp_path / "untrained").mkdir()
    (tmp_path / "untrained" / "vocab.tsv").write_text("a\t3\nb\t2\n")
    assert_usage_error(sg_keras("projector", *args, cwd=tmp_path), message)


def test_tabs_and_line_breaks_in_words_do_not_break_metadata_rows(tmp_path):
    words = ["plain", "tab\there", "new\nline", "carriage\rreturn", "back\\slash"]
    projector.write(str(tmp_path), words, [5, 4, 3, 2, 1], np.eye(5, 3, dtype=np.float32))
    with open(tmp_path / "metadata.tsv", encoding="utf-8", newline="") as f:
        rows = f.read().split("\n")
    assert rows == ["word\tcount", "plain\t5", "tab\\there\t4", "new\\nline\t3",
                    "carriage\\rreturn\t2", "back\\\\slash\t1", ""]
    assert len(np.loadtxt(tmp_path / "vectors.tsv", delimiter="\t")) == 5


def test_probe_words_default_to_frequent_words_and_are_normalised():
    vocab = Vocabulary([f"w{i}" for i in range(40)] + ["cat"], np.arange(41, 0, -1))
    assert probe_word_ids(vocab, [], "unicode") == [20, 21, 22, 23, 24]
    assert probe_word_ids(Vocabulary(vocab.words[:8], vocab.counts[:8]), [], "unicode") == \
        [3, 4, 5, 6, 7]
    assert probe_word_ids(vocab, ["CAT", "w3"], "unicode") == [40, 3]
    with pytest.raises(UsageError, match="probe word 'zebra' is not in the vocabulary"):
        probe_word_ids(vocab, ["zebra"], "unicode")


def test_train_rejects_an_unknown_probe_word_before_writing(tmp_path):
    planted_corpus(tmp_path / "corpus.txt", sentences=100)
    result = sg_keras("train", "--corpus=corpus.txt", "--model_dir=model", "--min_count=1",
                      "--probe_words=cat1,zebra", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr  # after the counting pass's progress line:
    assert result.stderr.splitlines()[-1] == "error: probe word 'zebra' is not in the vocabulary"
    assert not (tmp_path / "model").exists()
