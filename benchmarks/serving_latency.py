"""Serving latency: p50/p99 of the export's signatures, called in-process.

    .venv/bin/python -m benchmarks.serving_latency --export_dir=saved_models/NAME [--repeats=200]

Loads the newest version under --export_dir (or a version directory itself) with
tf.saved_model.load and times ``lookup`` with 1 and 1,000 words and ``nearest``
(k=10) with 1 and 100 words, each call on fresh random vocabulary words, outputs
fetched as numpy. Prints the figures and appends a Markdown section with the
command and the machine to benchmarks/RESULTS.md. TF Serving's own costs (HTTP
or gRPC, JSON, request batching) are not part of these figures.
"""

import datetime
import os
import platform
import shlex
import sys
import time

import numpy as np
import tensorflow as tf
import tensorflow_text
from absl import app, flags

from sg_keras import export

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None,
                    "An export's base path (its newest version is timed) or a version directory.")
flags.DEFINE_integer("repeats", 200, "Timed calls per case.")
flags.DEFINE_integer("warmup", 10, "Untimed calls per case first.")
flags.DEFINE_integer("seed", 1, "Seed of the random query words.")
flags.DEFINE_string("results", os.path.join(REPO, "benchmarks", "RESULTS.md"), "Results file.")
flags.DEFINE_string("label", "", "A note for this run's section heading.")
flags.mark_flag_as_required("export_dir")

CASES = (("lookup", 1, None), ("lookup", 1000, None), ("nearest", 1, 10), ("nearest", 100, 10))


def version_dir(path):
    """path itself if it holds a SavedModel, else its newest numbered version."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    latest = export.next_version(path) - 1
    if latest < 1:
        sys.exit(f"error: no SavedModel in {path} or its numbered versions")
    return os.path.join(path, str(latest))


def time_case(function, words, batch, k, rng):
    """Seconds per call, one call per query batch of `batch` random words."""
    times = []
    for i in range(FLAGS.warmup + FLAGS.repeats):
        inputs = {"words": tf.constant(rng.choice(words, batch))}
        if k is not None:
            inputs["k"] = tf.constant(k)
        started = time.perf_counter()
        outputs = {name: value.numpy() for name, value in function(**inputs).items()}
        elapsed = time.perf_counter() - started
        assert outputs["in_vocabulary"].all()
        if i >= FLAGS.warmup:
            times.append(elapsed)
    return np.array(times)


def machine():
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                     "?")
    return (f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, TensorFlow "
            f"{tf.__version__}, TF Text {tensorflow_text.__version__}")


def main(argv):
    del argv
    path = version_dir(FLAGS.export_dir)
    with open(os.path.join(path, "assets", export.VOCAB_ASSET), encoding="utf-8") as f:
        words = np.array(f.read().splitlines(), dtype=object)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    model = tf.saved_model.load(path)
    loaded = time.perf_counter() - started
    dim = model.signatures["lookup"].structured_outputs["embeddings"].shape[1]
    rng = np.random.default_rng(FLAGS.seed)
    rows = []
    for name, batch, k in CASES:
        times = time_case(model.signatures[name], words, batch, k, rng) * 1000
        rows.append((name, batch, k, np.percentile(times, 50), np.percentile(times, 99)))
        print(f"{name:8} {batch:5} words{'' if k is None else f', k={k}':7}  "
              f"p50 {rows[-1][3]:8.3f} ms  p99 {rows[-1][4]:8.3f} ms", flush=True)
    lines = [
        f"\n## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC — serving "
        "latency, in-process" + (f", {FLAGS.label}" if FLAGS.label else ""),
        "",
        f"- Command: `python -m benchmarks.serving_latency {shlex.join(sys.argv[1:])}`",
        f"- Export: {len(words):,} words, d = {dim}; `tf.saved_model.load` in {loaded:.1f}s; "
        f"each case {FLAGS.warmup} untimed then {FLAGS.repeats} timed calls of the signature on "
        "random vocabulary words, outputs fetched as numpy (no TF Serving, HTTP or JSON)",
        f"- Machine: {machine()}; 1-minute load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after",
        "",
        "| signature | words per call | k | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        *(f"| `{name}` | {batch:,} | {'–' if k is None else k} | {p50:.3f} | {p99:.3f} |"
          for name, batch, k, p50, p99 in rows),
    ]
    section = "\n".join(lines) + "\n"
    print(section)
    with open(FLAGS.results, "a", encoding="utf-8") as f:
        f.write(section)


if __name__ == "__main__":
    app.run(main)
