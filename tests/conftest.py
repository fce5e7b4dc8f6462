"""Shared fixtures and helpers: small generated corpora, the shared public data beside the
repo, a short training config, the sg-keras command as a process."""

import os
import pathlib
import random
import subprocess
import sys

import keras
import pytest

from sg_keras.config import TrainConfig
from sg_keras.word_vectors import WordVectors

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_file(name):
    """Path of a file in ../shared/data; skips the test where it is absent (fails under CI=true)."""
    path = SHARED_DATA / name
    if not path.exists():
        message = f"{path} is not present (public data beside the repository, see README)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def memory_mib(key="VmRSS"):
    """This process's memory figure ``key`` of /proc/self/status (VmRSS: resident), in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key + ":")) / 1024


def write_distinct_words(path, count=200_000):
    """A corpus of ``count`` distinct words (w0, w1, ...), 1,000 per line, each seen once."""
    path.write_text("\n".join(" ".join(f"w{i}" for i in range(start, min(start + 1000, count)))
                               for start in range(0, count, 1000)), encoding="utf-8")
    return path


def planted_corpus(path, sentences=3000, seed=0):
    """Sentences each drawn from one of four topics of eight words, plus shared filler.

    Words of a topic share their contexts, so a skip-gram model must place
    each word's nearest neighbours in its own topic.
    """
    rng = random.Random(seed)
    topics = [[f"{name}{i}" for i in range(8)] for name in ("cat", "car", "sea", "sky")]
    filler = ["the", "a", "and", "of"]
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(sentences):
            topic = rng.choice(topics)
            words = [rng.choice(topic) if rng.random() < 0.8 else rng.choice(filler)
                     for _ in range(12)]
            f.write(" ".join(words) + "\n")
    return topics


@pytest.fixture
def planted(tmp_path):
    path = tmp_path / "planted.txt"
    return path, planted_corpus(path)


def config_for(corpus, model_dir, **overrides):
    """A TrainConfig for a few seconds of training on a small corpus."""
    settings = dict(corpus=[str(corpus)], model_dir=str(model_dir), dim=16, window=3,
                    sample=0.0, min_count=1, epochs=3, batch_size=256, num_sampled=16,
                    tokenizer="whitespace", steps_per_execution=8)
    settings.update(overrides)
    return TrainConfig(**settings)


def topic_purity(model, vocab, topics, k=3):
    """Share of each topic word's k nearest neighbours that belong to its own topic."""
    word_vectors = WordVectors(vocab.words, model.word_vectors())
    hits = total = 0
    for topic in topics:
        for word in topic:
            hits += sum(neighbour in topic for neighbour, _ in word_vectors.most_similar(word, topn=k))
            total += k
    return hits / total


class InterruptAtEpoch(keras.callbacks.Callback):
    """Raises KeyboardInterrupt when epoch ``epoch`` begins (a user's Ctrl-C)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


class InterruptAtStep(keras.callbacks.Callback):
    """Raises KeyboardInterrupt when the execution starting at ``step`` of ``epoch`` begins."""

    def __init__(self, epoch, step):
        super().__init__()
        self.epoch, self.step = epoch, step

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self._epoch, batch) == (self.epoch, self.step):
            raise KeyboardInterrupt


class ExecutionsSeen(keras.callbacks.Callback):
    """Records (epoch, first step) of every execution that runs."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.append((self._epoch, batch))


def sg_keras(*args, cwd=None, timeout=600):
    """Runs ``sg-keras ARGS`` as a user does: a separate process."""
    return subprocess.run([sys.executable, "-m", "sg_keras.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def assert_usage_error(result, message):
    """The process printed one line ``error: …`` containing ``message`` and exited with 2."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
