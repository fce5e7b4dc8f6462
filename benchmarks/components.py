"""Where the training time goes: the input pipeline alone and the train step alone.

    .venv/bin/python -m benchmarks.components [--corpus=PATH] [--batch_size=4096] [--loss=negative]

1. pipeline: pairs/s of the tf.data pipeline iterated with no model (first
   --pipeline_pairs pairs of the corpus);
2. train step: pairs/s of the model's train step on one fixed in-memory batch
   taken from that pipeline, compiled as model.fit compiles it;
3. for --loss=softmax, the step's achieved FLOP/s next to this machine's
   float32 matrix-multiply FLOP/s measured in the same process.
Prints the figures with the command; appends them to benchmarks/RESULTS.md
with --results.
"""

import os
import shlex
import sys
import time

import tensorflow as tf
from absl import app, flags

from sg_keras import objectives, pairs, process, training
from sg_keras.config import TrainConfig
from sg_keras.corpus import Corpus
from sg_keras.optimizers import RowSGD
from sg_keras.vocab import count_vocabulary

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
flags.DEFINE_string("corpus", os.path.join(os.path.dirname(REPO), "shared", "data",
                                           "wiki10.text8.txt.gz"), "Corpus.")
flags.DEFINE_string("loss", "negative", "Objective.")
flags.DEFINE_integer("batch_size", 4096, "Pairs per step.")
flags.DEFINE_integer("num_sampled", 64, "Noise words per batch.")
flags.DEFINE_integer("max_vocab_size", 0, "Vocabulary cap (softmax wants a small one).")
flags.DEFINE_float("sample", 1e-4, "Subsampling threshold.")
flags.DEFINE_integer("pipeline_pairs", 3_000_000, "Pairs to draw from the pipeline.")
flags.DEFINE_integer("steps", 200, "Train steps to time.")
flags.DEFINE_string("results", None, "Append the figures to this Markdown file.")


def timed(function, repeats):
    function()  # warm up (tracing)
    started = time.perf_counter()
    for _ in range(repeats):
        result = function()
    float(tf.reduce_sum(result))  # wait for the last execution
    return (time.perf_counter() - started) / repeats


def matmul_flops(size=2048):
    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    seconds = timed(tf.function(lambda: tf.matmul(a, b)), 20)
    return 2 * size ** 3 / seconds


def main(argv):
    del argv
    config = TrainConfig(corpus=[FLAGS.corpus], model_dir="", loss=FLAGS.loss,
                                  batch_size=FLAGS.batch_size, num_sampled=FLAGS.num_sampled,
                                  sample=FLAGS.sample, max_vocab_size=FLAGS.max_vocab_size,
                                  tokenizer="whitespace")
    # The step as `sg-keras train` runs it.
    process.limit_op_threads(config.loss in objectives.SPARSE_LOSSES)
    corpus = Corpus(config.corpus)
    vocab, _ = count_vocabulary(corpus, config.tokenizer, config.min_count,
                                config.max_vocab_size)
    generator = pairs.PairGenerator(vocab, config.window, config.sample, True, config.tokenizer)

    dataset = generator.dataset(corpus, config.batch_size, config.seed)
    batches = FLAGS.pipeline_pairs // config.batch_size
    started = time.perf_counter()
    first, drawn = None, 0
    for batch in dataset.take(batches):
        first = first or batch
        drawn += int(batch[0].shape[0])
    if first is None:
        sys.exit(f"error: {FLAGS.corpus} yields no training pairs")
    pipeline = drawn / (time.perf_counter() - started)

    model = training.build_model(config, vocab)
    model.compile(optimizer=RowSGD(0.025))
    step = tf.function(model.train_step)
    step_seconds = timed(lambda: step(first)["loss"], FLAGS.steps)
    lines = [
        f"- Command: `python -m benchmarks.components {shlex.join(sys.argv[1:])}`",
        f"- vocabulary {len(vocab):,} words, dim {config.dim}, loss {config.loss}, batch "
        f"{config.batch_size}, num_sampled {config.num_sampled}",
        f"- input pipeline alone: {pipeline:,.0f} pairs/s",
        f"- train step alone: {config.batch_size / step_seconds:,.0f} pairs/s "
        f"({1e3 * step_seconds:.2f} ms/step)",
    ]
    if config.loss == "softmax":
        # Forward h·Wᵀ, and the two products of its backward pass: 3 matmuls of B x d x V.
        step_flops = 3 * 2 * config.batch_size * config.dim * len(vocab) / step_seconds
        peak = matmul_flops()
        lines.append(f"- softmax train step: {step_flops / 1e9:.1f} GFLOP/s = "
                     f"{100 * step_flops / peak:.0f}% of this machine's measured float32 "
                     f"matmul ({peak / 1e9:.1f} GFLOP/s, 2048² x 2048²)")
    report = "\n".join(lines)
    print(report)
    if FLAGS.results:
        with open(FLAGS.results, "a", encoding="utf-8") as f:
            f.write("\n### Components\n\n" + report + "\n")


if __name__ == "__main__":
    app.run(main)
