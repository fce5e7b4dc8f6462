"""The settings of a training run, defined once: TrainConfig's fields.

The command line's training flags (sg_keras.training_flags), the pipeline's Trainer
and the record in ``config.json`` are all made from these fields: each field's
metadata says whether it shapes the model (``setting``), its help text, and the
flag's default when it differs from the field's.
"""

import dataclasses
import math

from sg_keras import cluster
from sg_keras.errors import UsageError


def _setting(default, help, flag_default=dataclasses.MISSING):
    """A field that shapes the model: recorded in config.json and a training flag."""
    metadata = {"setting": True, "help": help}
    if flag_default is not dataclasses.MISSING:
        metadata["flag_default"] = flag_default
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class TrainConfig:
    """Settings of a training run; defaults are word2vec.c's and gensim's.

    ``corpus`` (files) and ``model_dir`` say where data comes from and goes; the
    fields made with ``_setting`` shape the model (:meth:`settings`); the rest
    choose what is evaluated and logged while training, and how it is distributed.

    Example:

    >>> config = TrainConfig(corpus=["corpus.txt"], model_dir="runs/demo", dim=50)
    >>> config.validate()
    >>> config.settings()["dim"], config.settings()["window"]
    (50, 5)
    """

    corpus: list
    model_dir: str
    dim: int = _setting(100, "Size of the word vectors.")
    window: int = _setting(5, "Maximum distance between centre and context word.")
    negative: int = _setting(5, "Noise words per pair (k) for --loss=negative.")
    num_sampled: int = _setting(64, "Noise words drawn per batch (negative) or per 64 pairs "
                                "(sampled), shared by those pairs.")
    sample: float = _setting(1e-3, "Subsampling threshold t (word2vec.c's -sample); 0 = off. "
                             "Default: 1e-3 for training, 0 for `sg-keras pairs`.",
                             flag_default=None)
    shrink_window: bool = _setting(True, "Draw each centre word's window from 1..window. "
                                   "Default: on for training, off for `sg-keras pairs`.",
                                   flag_default=None)
    min_count: int = _setting(5, "Drop words seen fewer times.")
    max_vocab_size: int = _setting(0, "Keep at most this many most frequent words (0 = all); "
                                   "counting then holds at most max(4 x N, 2M) distinct "
                                   "words, pruning the rarest beyond (word2vec.c's way).")
    epochs: int = _setting(5, "Passes over the corpus.")
    batch_size: int = _setting(None, "Training pairs per step. Default: 4096, or 1024 with "
                               "subwords (--max_n), whose shared n-gram rows learn better "
                               "from smaller summed updates (benchmarks/RESULTS.md).")
    loss: str = _setting("negative", "Objective: negative, softmax, sampled or hs "
                         "(hierarchical softmax).")
    learning_rate: float = _setting(None, "Initial SGD learning rate (per pair), decays "
                                    "linearly to 1e-4 of it. Default: 0.025 (word2vec.c's), "
                                    "0.02 for --loss=sampled, which diverges at 0.025 on "
                                    "some seeds (benchmarks/RESULTS.md).")
    seed: int = _setting(1, "Random seed: runs with the same seed draw the same samples.")
    tokenizer: str = _setting("unicode", "unicode (NFKC, case folding, punctuation dropped) "
                              "or whitespace (pre-tokenised corpora such as text8).")
    min_n: int = _setting(3, "Shortest character n-gram of a word's subwords (with --max_n).")
    max_n: int = _setting(0, "Longest character n-gram: words get fastText's subword vectors, "
                          "the mean of their own and their n-grams' rows; 0 = plain word2vec.")
    buckets: int = _setting(2_000_000, "Hash buckets (rows) the character n-grams share "
                            "(with --max_n).")
    steps_per_execution: int = _setting(32, "Training steps per tf.function call.")
    init_from: str = _setting("", "A trained model_dir to continue training from, on --corpus: "
                              "its vocabulary grows by the new words, its vectors are copied; "
                              "the other settings default to its run's (see README).")
    phrases: str = ""  # a phrases file (sg-keras phrases): its phrases become words
    vocab: str = ""  # a vocab.tsv (word<TAB>count): the vocabulary, not counted from the corpus
    eval_analogies: list = dataclasses.field(default_factory=list)
    eval_similarity: list = dataclasses.field(default_factory=list)
    restrict_vocab: int = 30000
    probe_words: list = dataclasses.field(default_factory=list)  # default: frequent words
    strategy: str = "default"  # see cluster.STRATEGIES
    backup_interval: float = 60.0  # seconds between backups inside an epoch; 0: at its end only

    def __post_init__(self):
        if self.batch_size is None:
            self.batch_size = SUBWORD_BATCH_SIZE if self.subwords else BATCH_SIZE
        if self.learning_rate is None:
            self.learning_rate = (SAMPLED_LEARNING_RATE if self.loss == "sampled"
                                  else LEARNING_RATE)

    def validate(self):
        """Raises UsageError naming the first nonsensical setting."""
        # Imported here: the command line defines its flags from this module before
        # it imports TensorFlow, which these two modules need.
        from sg_keras import text
        from sg_keras.objectives import LOSSES

        at_least = {"dim": 1, "window": 1, "negative": 0, "num_sampled": 1, "min_count": 1,
                    "max_vocab_size": 0, "epochs": 1, "batch_size": 1,
                    "steps_per_execution": 1, "restrict_vocab": 1, "min_n": 1, "buckets": 1}
        for name, minimum in at_least.items():
            if getattr(self, name) < minimum:
                raise UsageError(f"--{name} must be at least {minimum}, got {getattr(self, name)}")
        if self.max_n and self.max_n < self.min_n:
            raise UsageError(f"--max_n must be 0 (no subwords) or at least --min_n="
                             f"{self.min_n}, got {self.max_n}")
        if not 0 <= self.seed < 2 ** 32:  # numpy's and Keras' seeds
            raise UsageError(f"--seed must be in 0 … 2**32 - 1, got {self.seed}")
        if not self.sample >= 0 or math.isinf(self.sample):
            raise UsageError(f"--sample must be at least 0 and finite, got {self.sample}")
        if not self.backup_interval >= 0 or math.isinf(self.backup_interval):
            raise UsageError(f"--backup_interval must be at least 0 and finite, got "
                             f"{self.backup_interval}")
        if not self.learning_rate > 0 or math.isinf(self.learning_rate):
            raise UsageError(f"--learning_rate must be positive and finite, got "
                             f"{self.learning_rate}")
        if self.loss not in LOSSES:
            raise UsageError(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        text.check_tokenizer(self.tokenizer)
        if self.strategy not in cluster.STRATEGIES:
            raise UsageError(f"unknown strategy {self.strategy!r}: choose one of "
                             f"{', '.join(cluster.STRATEGIES)}")
        if not self.model_dir:
            raise UsageError("--model_dir is required")

    @property
    def subwords(self):
        """Whether words get subword (character n-gram) vectors."""
        return self.max_n > 0

    def settings(self):
        """The settings that shape the model (SETTINGS), as a dict."""
        return {name: getattr(self, name) for name in SETTINGS}


BATCH_SIZE = 4096
SUBWORD_BATCH_SIZE = 1024
LEARNING_RATE = 0.025
SAMPLED_LEARNING_RATE = 0.02

SETTINGS = tuple(field.name for field in dataclasses.fields(TrainConfig)
                 if field.metadata.get("setting"))
# The settings that define the vocabulary (the pipeline's Transform owns them).
VOCABULARY_SETTINGS = ("tokenizer", "min_count", "max_vocab_size")
