"""Benchmark: WordVectors' queries against gensim's KeyedVectors on the same vectors, one run.

    .venv/bin/python -m benchmarks.queries --vectors=runs/wiki10/vectors.txt
        [--queries=1000 --topn=10] [--large_words=3000000 --large_dim=300]

Loads the word2vec file into both (sg_keras.WordVectors.load and gensim's
KeyedVectors.load_word2vec_format) and times ``most_similar(word, topn=...)`` on
--queries random vocabulary words, each word asked of both, the order alternating
(A B, B A, …) so that the machine's load falls on both alike; one untimed query
each first (gensim computes its norms on its first query). Checks that both give the
same words, and reports p50 and p90 per query and their ratio. --large_words (0: skip)
times the same on a random [large_words, large_dim] float32 matrix, the size of
GoogleNews' 3M-word vectors (held in memory twice, ~3.6 GB each at the default size).
Appends a Markdown section with the command to benchmarks/RESULTS.md.
"""

import datetime
import os
import shlex
import sys
import time

import numpy as np
from absl import app, flags
from gensim.models import KeyedVectors

from benchmarks.run import append_section, machine
from sg_keras.word_vectors import WordVectors

# --results and --label are benchmarks.run's flags.
FLAGS = flags.FLAGS
flags.DEFINE_string("vectors", None, "A word2vec text or binary file.")
flags.DEFINE_integer("queries", 1000, "Timed queries per system.")
flags.DEFINE_integer("topn", 10, "Neighbours per query.")
flags.DEFINE_integer("large_words", 3_000_000, "Rows of the large random matrix (0: skip).")
flags.DEFINE_integer("large_dim", 300, "Columns of the large random matrix.")
flags.DEFINE_integer("large_queries", 20, "Timed queries per system on the large matrix.")
flags.DEFINE_integer("seed", 0, "Seed of the query words and the random matrix.")
flags.mark_flag_as_required("vectors")


def time_queries(systems, words, topn):
    """{name: [seconds per query]} and the number of queries both answered alike."""
    timings = {name: [] for name in systems}
    names = list(systems)
    for name in names:  # untimed: gensim fills its norms on the first query
        systems[name].most_similar(words[0], topn=topn)
    agreed = 0
    for i, word in enumerate(words):
        answers = {}
        for name in (names if i % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            answers[name] = systems[name].most_similar(word, topn=topn)
            timings[name].append(time.perf_counter() - start)
        agreed += len({tuple(w for w, _ in answer) for answer in answers.values()}) == 1
    return timings, agreed


def summary(timings):
    return {name: (np.percentile(times, 50) * 1e3, np.percentile(times, 90) * 1e3)
            for name, times in timings.items()}


def rows(title, shape, figures, agreed, queries):
    ours, theirs = figures["sg_keras"], figures["gensim"]
    return [f"| {title} | {shape[0]:,} × {shape[1]} | {queries:,} | {ours[0]:.2f} | {ours[1]:.2f} "
            f"| {theirs[0]:.2f} | {theirs[1]:.2f} | {ours[0] / theirs[0]:.2f}× | "
            f"{agreed:,}/{queries:,} |"]


def main(argv):
    del argv
    if not os.path.exists(FLAGS.vectors) or FLAGS.queries < 1 or FLAGS.topn < 1:
        sys.exit(f"error: missing --vectors {FLAGS.vectors}, or --queries/--topn < 1")
    rng = np.random.default_rng(FLAGS.seed)
    binary = not FLAGS.vectors.endswith(".txt")
    systems = {"sg_keras": WordVectors.load(FLAGS.vectors),
               "gensim": KeyedVectors.load_word2vec_format(FLAGS.vectors, binary=binary)}
    vocabulary = systems["sg_keras"].index_to_key
    words = [vocabulary[i] for i in rng.integers(0, len(vocabulary), FLAGS.queries)]
    timings, agreed = time_queries(systems, words, FLAGS.topn)
    shape = systems["sg_keras"].vectors.shape
    table = rows(os.path.basename(FLAGS.vectors), shape, summary(timings), agreed, FLAGS.queries)
    print(table[-1], flush=True)
    if FLAGS.large_words:
        del systems
        matrix = rng.standard_normal((FLAGS.large_words, FLAGS.large_dim), np.float32)
        keys = [f"w{i}" for i in range(FLAGS.large_words)]
        keyed = KeyedVectors(FLAGS.large_dim, count=0)
        keyed.add_vectors(keys, matrix)
        systems = {"sg_keras": WordVectors(keys, matrix), "gensim": keyed}
        words = [keys[i] for i in rng.integers(0, len(keys), FLAGS.large_queries)]
        timings, agreed = time_queries(systems, words, FLAGS.topn)
        table += rows("random", matrix.shape, summary(timings), agreed, FLAGS.large_queries)
        print(table[-1], flush=True)
    section = "\n".join([
        f"\n## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC — queries"
        + (f": {FLAGS.label}" if FLAGS.label else ""),
        "",
        f"- Command: `python -m benchmarks.queries {shlex.join(sys.argv[1:])}`",
        f"- Machine: {machine()}",
        f"- `most_similar(word, topn={FLAGS.topn})` on random vocabulary words, sg_keras and "
        "gensim alternating, in one process; milliseconds per query",
        "",
        "| vectors | words × dim | queries | sg_keras p50 | p90 | gensim p50 | p90 | "
        "p50 vs gensim | same words |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *table]) + "\n"
    append_section(section)


if __name__ == "__main__":
    app.run(main)
