"""Shared fixtures: small generated corpora and the shared public data beside the repo."""

import os
import pathlib
import random

import pytest

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
