"""The training flags, defined once for ``sg-keras train`` and the pipeline (absl flags).

``settings()`` turns their values into keyword arguments of training.TrainConfig.
"""

from absl import flags

FLAGS = flags.FLAGS

flags.DEFINE_integer("dim", 100, "Size of the word vectors.")
flags.DEFINE_integer("window", 5, "Maximum distance between centre and context word.")
flags.DEFINE_integer("negative", 5, "Noise words per pair (k) for --loss=negative.")
flags.DEFINE_integer("num_sampled", 64,
                     "Noise words drawn per batch, shared by its pairs (negative, sampled).")
flags.DEFINE_float("sample", None, "Subsampling threshold t (word2vec.c's -sample); 0 = off. "
                   "Default: 1e-3 for training, 0 for `sg-keras pairs`.")
flags.DEFINE_boolean("shrink_window", None, "Draw each centre word's window from 1..window. "
                     "Default: on for training, off for `sg-keras pairs`.")
flags.DEFINE_integer("min_count", 5, "Drop words seen fewer times.")
flags.DEFINE_integer("max_vocab_size", 0, "Keep at most this many most frequent words (0 = all).")
flags.DEFINE_integer("epochs", 5, "Passes over the corpus.")
flags.DEFINE_integer("batch_size", 4096, "Training pairs per step.")
flags.DEFINE_string("loss", "negative", "Objective: negative, softmax or sampled.")
flags.DEFINE_float("learning_rate", 0.025, "Initial SGD learning rate (per pair), decays "
                   "linearly to 1e-4 of it.")
flags.DEFINE_integer("seed", 1, "Random seed: runs with the same seed draw the same samples.")
flags.DEFINE_string("tokenizer", "unicode", "unicode (NFKC, case folding, punctuation "
                    "dropped) or whitespace (pre-tokenised corpora such as text8).")
flags.DEFINE_integer("steps_per_execution", 32, "Training steps per tf.function call.")

SETTINGS = ("dim", "window", "negative", "num_sampled", "sample", "shrink_window", "min_count",
            "max_vocab_size", "epochs", "batch_size", "loss", "learning_rate", "seed",
            "tokenizer", "steps_per_execution")


def settings():
    """The training flags as TrainConfig keyword arguments; unset ones get its defaults."""
    return {name: FLAGS[name].value for name in SETTINGS if FLAGS[name].value is not None}
