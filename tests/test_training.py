import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import (ExecutionsSeen, InterruptAtEpoch, InterruptAtStep, config_for,
                      topic_purity)
from sg_keras import backup as backup_lib
from sg_keras import data, training
from sg_keras.errors import UsageError
from sg_keras.optimizers import RowSGD
from sg_keras.schedules import LinearDecay


@pytest.mark.parametrize("loss", ["negative", "sampled", "softmax", "hs"])
def test_planted_structure_is_learned(planted, tmp_path, loss):
    corpus, topics = planted
    model, vocab, history = training.train(config_for(corpus, tmp_path / "m", loss=loss))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert topic_purity(model, vocab, topics) >= 0.95


def test_model_dir_holds_everything_a_user_needs(planted, tmp_path):
    corpus, _ = planted
    model_dir = tmp_path / "m"
    model, vocab, history = training.train(config_for(corpus, model_dir, epochs=2))
    names = set(os.listdir(model_dir))
    assert {"vocab.tsv", "config.json", "model.keras", "vectors.txt", "checkpoints", "logs"} <= names
    assert "backup" not in names  # removed once model.keras and vectors.txt are written
    assert not [n for n in names if n.startswith((".tmp", ".partial"))]
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["settings"]["dim"] == 16 and saved["vocab_size"] == len(vocab) == 36
    assert os.listdir(model_dir / "checkpoints") == ["latest.weights.h5"]
    loaded = keras.models.load_model(model_dir / "model.keras")
    np.testing.assert_array_equal(loaded.word_vectors(), model.word_vectors())
    model.save(tmp_path / "by_keras.keras")  # the archive Keras itself writes
    with zipfile.ZipFile(model_dir / "model.keras") as ours, \
            zipfile.ZipFile(tmp_path / "by_keras.keras") as by_keras:
        assert sorted(ours.namelist()) == sorted(by_keras.namelist())
        assert ours.read("config.json") == by_keras.read("config.json")
        assert {entry.compress_type for entry in ours.infolist()} == {zipfile.ZIP_STORED}
    for key in ("loss", "words_per_sec", "learning_rate"):
        assert len(history.history[key]) == 2
    assert history.history["learning_rate"][-1] < 0.025 * 0.01


def test_tensorboard_logs_loss_learning_rate_and_speed(planted, tmp_path):
    corpus, _ = planted
    training.train(config_for(corpus, tmp_path / "m", epochs=2))
    tags = set()
    for root, _, files in os.walk(tmp_path / "m" / "logs" / "train"):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                tags.update(value.tag for value in event.summary.value)
    assert {"epoch_loss", "epoch_learning_rate", "epoch_words_per_sec",
            "batch_loss", "batch_words_per_sec"} <= tags


def test_vectors_txt_loads_in_gensim(planted, tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    corpus, _ = planted
    model, vocab, _ = training.train(config_for(corpus, tmp_path / "m", epochs=1))
    loaded = gensim_models.KeyedVectors.load_word2vec_format(str(tmp_path / "m" / "vectors.txt"))
    assert loaded.index_to_key == vocab.words
    np.testing.assert_allclose(loaded.vectors, model.word_vectors(), rtol=1e-5, atol=1e-7)


def test_interrupted_training_resumes_where_it_stopped(planted, tmp_path):
    corpus, _ = planted
    config = config_for(corpus, tmp_path / "m", epochs=3)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[InterruptAtEpoch(2)])
    assert os.path.exists(tmp_path / "m" / "backup")
    assert not os.path.exists(tmp_path / "m" / "model.keras")
    _, _, history = training.train(config)
    assert len(history.history["loss"]) == 1  # only the third epoch was left
    assert os.path.exists(tmp_path / "m" / "model.keras")


def test_a_run_interrupted_inside_an_epoch_resumes_at_the_step_of_its_last_backup(
        planted, tmp_path):
    corpus, _ = planted
    reference, _, _ = training.train(config_for(corpus, tmp_path / "reference", epochs=2))
    steps_per_epoch = int(reference.optimizer.iterations.numpy()) // 2
    assert steps_per_epoch >= 24, "the test needs 3 executions of 8 steps in an epoch"
    # A backup after every execution: the last one before step 16 of epoch 2 began.
    config = config_for(corpus, tmp_path / "m", epochs=2, backup_interval=1e-9)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[InterruptAtStep(epoch=1, step=16)])
    seen = ExecutionsSeen()
    model, _, history = training.train(config, extra_callbacks=[seen])
    assert seen.seen[0] == (1, 16)  # epoch 2 resumed at its step 16, the batches in order
    assert int(model.optimizer.iterations.numpy()) == 2 * steps_per_epoch
    assert len(history.history["loss"]) == 1
    np.testing.assert_array_equal(model.word_vectors(), reference.word_vectors())
    np.testing.assert_array_equal(model.output_kernel(), reference.output_kernel())


def test_the_training_loop_trains_as_model_fit_does(planted, tmp_path):
    corpus, _ = planted
    config = config_for(corpus, tmp_path / "m", epochs=2)
    model, _, history = training.train(config)
    steps_per_epoch = int(model.optimizer.iterations.numpy()) // 2
    # model.fit on the same stream, model, optimizer and seed
    keras.utils.set_random_seed(config.seed)
    vocab, counts = training.prepare_vocabulary(config)
    fitted = training.build_model(config, vocab)
    fitted.compile(optimizer=RowSGD(LinearDecay(
        config.learning_rate, 2 * steps_per_epoch)), steps_per_execution=8)
    fit_history = fitted.fit(training.TrainingPairs(config, vocab, counts).dataset(256),
                             epochs=2, steps_per_epoch=steps_per_epoch, shuffle=False,
                             verbose=0)
    np.testing.assert_array_equal(fitted.word_vectors(), model.word_vectors())
    np.testing.assert_array_equal(fitted.output_kernel(), model.output_kernel())
    assert fit_history.history["loss"] == pytest.approx(history.history["loss"], rel=1e-6)


def test_backups_inside_an_epoch_follow_the_interval(planted, tmp_path, monkeypatch):
    corpus, _ = planted
    saves = []
    original = backup_lib.Backup.save
    monkeypatch.setattr(backup_lib.Backup, "save", lambda self: (saves.append(
        int(self._model.optimizer.iterations.numpy())), original(self)))
    model, _, _ = training.train(config_for(corpus, tmp_path / "every", epochs=1,
                                            backup_interval=1e-9))
    steps_per_epoch = int(model.optimizer.iterations.numpy())
    assert saves == list(range(8, steps_per_epoch + 1, 8))  # every execution's end, once
    saves.clear()
    training.train(config_for(corpus, tmp_path / "hourly", epochs=2, backup_interval=3600))
    assert saves == [steps_per_epoch, 2 * steps_per_epoch]  # each epoch's end only


def test_a_loss_that_turns_nan_stops_the_run_before_anything_is_saved(planted, tmp_path):
    corpus, _ = planted
    with pytest.raises(UsageError, match=r"training diverged: the loss is nan after step \d+ "
                                         r"of epoch 1; try a smaller --learning_rate"):
        training.train(config_for(corpus, tmp_path / "m", learning_rate=1e30))
    assert not list((tmp_path / "m").glob("checkpoints/*"))  # no epoch's weights
    assert not os.path.exists(tmp_path / "m" / "model.keras")
    assert not os.path.exists(tmp_path / "m" / "vectors.txt")


def expected_pairs_of_one_pass(corpus, window):
    """The expected pairs of one pass over ``corpus`` (no subsampling, windows shrunk),
    counted word by word: a word with a window of b pairs with the b words on each side
    that its sentence has, b drawn from 1..window."""
    total = 0.0
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            n = len(line.split())
            total += sum(min(b, i) + min(b, n - 1 - i)
                         for i in range(n) for b in range(1, window + 1)) / window
    return total


def test_an_epoch_is_one_pass_even_when_shorter_than_an_execution(planted, tmp_path):
    corpus, _ = planted
    batch_size = 65536
    model, _, _ = training.train(config_for(corpus, tmp_path / "m", epochs=2,
                                            batch_size=batch_size))
    steps = int(model.optimizer.iterations) / 2
    assert 1 <= steps < 8  # fewer than the configured steps_per_execution: Keras alone runs 8
    # An epoch's steps carry one pass's pairs, to within half a batch.
    assert abs(steps * batch_size - expected_pairs_of_one_pass(corpus, window=3)) \
        <= batch_size / 2


@pytest.mark.parametrize("steps_per_execution, whole_executions, expected", [
    (32, True, (992, 32)),  # 1,000 steps rounded to whole executions (Keras train function)
    (32, False, (1000, 32)),  # the cluster loops run a shorter last execution
    (2000, True, (1000, 1000)),  # an execution is at most an epoch
])
def test_epoch_steps(steps_per_execution, whole_executions, expected):
    assert training.epoch_steps(1000 * 4096 + 17, 4096, steps_per_execution,
                                whole_executions) == expected


def test_a_model_dir_of_other_settings_is_refused(planted, tmp_path):
    corpus, _ = planted
    training.train(config_for(corpus, tmp_path / "m", epochs=1))
    with pytest.raises(UsageError, match="other settings"):
        training.train(config_for(corpus, tmp_path / "m", epochs=1, dim=8))


def test_a_model_dir_of_another_vocabulary_is_refused(planted, tmp_path):
    corpus, _ = planted
    training.train(config_for(corpus, tmp_path / "m", epochs=1))
    vocab = tmp_path / "vocab.tsv"
    vocab.write_bytes((tmp_path / "m" / "vocab.tsv").read_bytes())
    training.train(config_for(corpus, tmp_path / "m", epochs=1, vocab=str(vocab)))  # the same
    vocab.write_text("".join(vocab.read_text().splitlines(keepends=True)[:-1]))  # one fewer
    with pytest.raises(UsageError, match="holds a run with another vocabulary"):
        training.train(config_for(corpus, tmp_path / "m", epochs=1, vocab=str(vocab)))


def test_early_stopping_is_usable(planted, tmp_path):
    corpus, _ = planted
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    _, _, history = training.train(config_for(corpus, tmp_path / "m", epochs=5),
                                   extra_callbacks=[stop])
    assert len(history.history["loss"]) == 2


def test_default_corpus_offline_says_how_to_pass_a_path(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "TEXT8_URL", "http://127.0.0.1:9/text8.zip")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(UsageError, match="--corpus="):
        data.text8_path()


def test_evaluation_figures_reach_history_and_tensorboard(planted, tmp_path):
    corpus, _ = planted
    analogies = tmp_path / "topics-analogies.txt"
    analogies.write_text(": topics\ncat0 cat1 sea0 sea1\ncar2 car3 sky2 sky3\n")
    pairs = tmp_path / "topic-pairs.txt"
    pairs.write_text("cat0\tcat1\t9\ncat0\tsea1\t1\ncar0\tcar5\t8\nsky1\tcar1\t2\ncat2\tzebra\t5\n")
    _, _, history = training.train(config_for(corpus, tmp_path / "m", epochs=2,
                                              eval_analogies=[str(analogies)],
                                              eval_similarity=[str(pairs)]))
    accuracy = history.history["analogy_topics-analogies"]
    spearman = history.history["spearman_topic-pairs"]
    assert len(accuracy) == len(spearman) == 2
    assert all(0 <= a <= 1 for a in accuracy) and spearman[-1] > 0.5
    tags = set()
    for root, _, files in os.walk(tmp_path / "m" / "logs" / "train"):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                tags.update(value.tag for value in event.summary.value)
    assert {"epoch_analogy_topics-analogies", "epoch_spearman_topic-pairs"} <= tags


def test_a_bad_evaluation_file_fails_before_training(planted, tmp_path):
    corpus, _ = planted
    bad = tmp_path / "bad.txt"
    bad.write_text("a b c\n")
    with pytest.raises(UsageError, match="bad.txt:1: expected 4 words"):
        training.train(config_for(corpus, tmp_path / "m", eval_analogies=[str(bad)]))
    assert not (tmp_path / "m").exists()


def _intra_op_threads_after(call, overrides=None):
    """TF's intra-op thread setting after ``call`` (Python) in a fresh process."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
    program = ("import tensorflow as tf; from absl import logging; "
               "from sg_keras import objectives, process; logging.set_verbosity('info'); "
               f"{call}; print(tf.config.threading.get_intra_op_parallelism_threads())")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            env={**environment, **(overrides or {})}, timeout=300)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1]), result.stderr


@pytest.mark.parametrize("loss, overrides, threads", [
    ("negative", {}, 1), ("sampled", {}, 1), ("softmax", {}, 0),
    ("negative", {"TF_NUM_INTRAOP_THREADS": "2"}, 0)])
def test_sparse_objectives_run_ops_on_one_thread_unless_told_otherwise(loss, overrides,
                                                                       threads):
    call = f"process.limit_op_threads({loss!r} in objectives.SPARSE_LOSSES)"
    assert _intra_op_threads_after(call, overrides)[0] == threads


def test_op_threads_stay_once_the_runtime_has_started():
    threads, log = _intra_op_threads_after("tf.constant(1) + 1; "
                                           "process.limit_op_threads(True)")
    assert threads == 0 and "runtime has started" in log


@pytest.mark.parametrize("write", [training.train, training.write_untrained])
def test_counts_with_no_hs_tree_fail_before_anything_is_written(tmp_path, write):
    fibonacci = [1, 1]  # counts whose Huffman tree is a chain: 44 levels for 45 words
    while len(fibonacci) < 45:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    (tmp_path / "deep.tsv").write_text("".join(
        f"w{i}\t{count}\n" for i, count in enumerate(fibonacci[::-1])), encoding="utf-8")
    (tmp_path / "deep.txt").write_text(" ".join(f"w{i}" for i in range(45)) + "\n")
    config = config_for(tmp_path / "deep.txt", tmp_path / "m", loss="hs", min_count=1,
                        vocab=str(tmp_path / "deep.tsv"))
    with pytest.raises(UsageError, match="44 levels deep"):
        write(config)
    assert not (tmp_path / "m").exists() or not os.listdir(tmp_path / "m")
