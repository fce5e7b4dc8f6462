"""What a resumed run pays to find its place in the pair stream: the replay.

    .venv/bin/python -m benchmarks.resume_replay [--corpus=PATH] [--epochs=0,1,4]

A resumed run re-creates the pipeline skipping the batches already trained on
(training.TrainingPairs.dataset(batch_size, skip_batches)); this times the first
batch after skipping whole epochs of the corpus at the benchmark's settings
(whitespace tokens, sample 1e-4, batch 4096) and prints the figures.
"""

import os
import time

from absl import app, flags

from sg_keras import pairs, process, training
from sg_keras.config import TrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")

FLAGS = flags.FLAGS
flags.DEFINE_string("corpus", os.path.join(DATA, "wiki10.text8.txt.gz"), "Corpus (text8-style).")
flags.DEFINE_list("epochs", ["0", "1", "4"], "Epochs to skip, one measurement each.")


def main(argv):
    del argv
    process.import_tensorflow_quietly()
    config = TrainConfig(corpus=[FLAGS.corpus], model_dir="unused", tokenizer="whitespace",
                         sample=1e-4)
    process.limit_op_threads(True)
    process.keep_freed_memory_in_heap()
    vocab, counts = training.prepare_vocabulary(config)
    expected = pairs.expected_pairs(vocab.counts, config.sample, config.window,
                                    config.shrink_window, counts.sentences)
    steps, _ = training.epoch_steps(expected, config.batch_size, config.steps_per_execution,
                                    whole_executions=True)
    stream = training.TrainingPairs(config, vocab, counts)
    print(f"{FLAGS.corpus}: {steps} steps per epoch ({expected:,.0f} expected pairs)")
    for epochs in map(int, FLAGS.epochs):
        started = time.perf_counter()
        next(iter(stream.dataset(config.batch_size, epochs * steps)))
        print(f"skip {epochs} epochs ({epochs * steps} batches): first batch after "
              f"{time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    app.run(main)
