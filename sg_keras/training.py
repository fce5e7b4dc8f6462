"""Training: corpus → vocabulary → tf.data pairs → SkipGram → model.fit → model_dir.

``model_dir`` after a run holds ``vocab.tsv``, ``config.json``, ``model.keras``
(the final model), ``vectors.txt`` (word2vec text format), ``checkpoints/``
(weights after the latest epoch), ``logs/`` (TensorBoard) and, while a run is under
way, ``backup/`` (BackupAndRestore: a rerun with the same settings resumes).
"""

import dataclasses
import json
import os
import time

import keras
from absl import logging

from sg_keras import pairs, text, vectors
from sg_keras.callbacks import TrainingSpeed, WordVectorEvaluation
from sg_keras.errors import UsageError
from sg_keras.io_utils import atomic_write_text
from sg_keras.model import LOSSES, LinearDecay, SkipGram
from sg_keras.vocab import Vocabulary, build_vocabulary, count_words, vocab_path

CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
VECTORS_FILE = "vectors.txt"


@dataclasses.dataclass
class TrainConfig:
    """Settings of a training run; defaults are word2vec.c's and gensim's."""

    corpus: list
    model_dir: str
    dim: int = 100
    window: int = 5
    negative: int = 5
    num_sampled: int = 64
    sample: float = 1e-3
    shrink_window: bool = True
    min_count: int = 5
    max_vocab_size: int = 0
    epochs: int = 5
    batch_size: int = 4096
    loss: str = "negative"
    learning_rate: float = 0.025
    seed: int = 1
    tokenizer: str = "unicode"
    steps_per_execution: int = 32
    eval_analogies: list = dataclasses.field(default_factory=list)
    eval_similarity: list = dataclasses.field(default_factory=list)
    restrict_vocab: int = 30000

    def validate(self):
        """Raises UsageError naming the first nonsensical setting."""
        at_least = {"dim": 1, "window": 1, "negative": 0, "num_sampled": 1, "min_count": 1,
                    "max_vocab_size": 0, "epochs": 1, "batch_size": 1,
                    "steps_per_execution": 1, "restrict_vocab": 1}
        for name, minimum in at_least.items():
            if getattr(self, name) < minimum:
                raise UsageError(f"--{name} must be at least {minimum}, got {getattr(self, name)}")
        if self.sample < 0:
            raise UsageError(f"--sample must be at least 0, got {self.sample}")
        if not self.learning_rate > 0:
            raise UsageError(f"--learning_rate must be positive, got {self.learning_rate}")
        if self.loss not in LOSSES:
            raise UsageError(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        text.check_tokenizer(self.tokenizer)
        if not self.model_dir:
            raise UsageError("--model_dir is required")

    def settings(self):
        """The settings that shape the model (all but where data comes from and goes)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("corpus", "model_dir", "eval_analogies", "eval_similarity",
                             "restrict_vocab")}


def _write_json(path, content):
    atomic_write_text(path, json.dumps(content, indent=2, sort_keys=True) + "\n")


def _check_resumable(config):
    """A model_dir from an earlier run may only be reused with the same settings."""
    path = os.path.join(config.model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        previous = json.load(f)
    if previous.get("settings") != config.settings() or previous.get("corpus") != config.corpus:
        raise UsageError(
            f"{config.model_dir} holds a run with other settings or corpus; "
            "use a new --model_dir (or delete it)")


def prepare_vocabulary(config):
    """Counts the corpus and builds the vocabulary (nothing written)."""
    corpus = text.Corpus(config.corpus)
    started = time.perf_counter()
    counter, counts = count_words(corpus, config.tokenizer)
    if counts.tokens == 0:
        raise UsageError(f"the corpus has no words: {', '.join(config.corpus)}")
    vocab = build_vocabulary(counter, config.min_count, config.max_vocab_size)
    logging.info("counted %d tokens, %d sentences in %.1fs: %d words kept, "
                 "%d invalid UTF-8 sequences replaced", counts.tokens, counts.sentences,
                 time.perf_counter() - started, len(vocab), counts.invalid_utf8)
    if counts.invalid_utf8:
        logging.warning("%d invalid UTF-8 byte sequences were replaced by U+FFFD",
                        counts.invalid_utf8)
    return corpus, vocab, counts


def build_model(config, vocab):
    return SkipGram(len(vocab), config.dim, loss=config.loss, negative=config.negative,
                    num_sampled=config.num_sampled, seed=config.seed,
                    noise_counts=vocab.counts)


def train(config, extra_callbacks=()):
    """Trains a SkipGram model as configured and writes model_dir; returns (model, vocab, history)."""
    config.validate()
    text.check_corpus_files(config.corpus)
    _check_resumable(config)
    evaluations = []
    if config.eval_analogies or config.eval_similarity:  # a bad file fails before training
        evaluations.append(WordVectorEvaluation(config.eval_analogies, config.eval_similarity,
                                                config.restrict_vocab))
    keras.utils.set_random_seed(config.seed)

    corpus, vocab, counts = prepare_vocabulary(config)
    for callback in evaluations:
        callback.words = vocab.words
    generator = pairs.PairGenerator(vocab, config.window, config.sample,
                                    config.shrink_window, config.tokenizer)
    expected_pairs = pairs.expected_pairs(vocab.counts, config.sample, config.window,
                                          config.shrink_window, counts.sentences)
    steps_per_epoch = max(1, round(expected_pairs / config.batch_size))

    os.makedirs(config.model_dir, exist_ok=True)
    vocab.save(vocab_path(config.model_dir))
    _write_json(os.path.join(config.model_dir, CONFIG_FILE), {
        "settings": config.settings(), "corpus": config.corpus,
        "corpus_tokens": counts.tokens, "corpus_sentences": counts.sentences,
        "invalid_utf8": counts.invalid_utf8, "vocab_size": len(vocab),
        "expected_pairs_per_epoch": expected_pairs})

    model = build_model(config, vocab)
    model.compile(
        optimizer=keras.optimizers.SGD(
            LinearDecay(config.learning_rate, steps_per_epoch * config.epochs)),
        steps_per_execution=config.steps_per_execution)
    checkpoints = os.path.join(config.model_dir, "checkpoints")
    os.makedirs(checkpoints, exist_ok=True)
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(config.model_dir, "backup")),
        TrainingSpeed(config.batch_size, expected_pairs / counts.tokens),
        *evaluations,
        keras.callbacks.ModelCheckpoint(
            os.path.join(checkpoints, "latest.weights.h5"), save_weights_only=True),
        # Batch-level callbacks run once per execution (steps_per_execution
        # steps); update_freq=1 logs each. A larger update_freq would also make
        # Keras drop the epoch summaries of epochs whose execution count it
        # does not divide.
        keras.callbacks.TensorBoard(os.path.join(config.model_dir, "logs"), update_freq=1),
        *extra_callbacks,
    ]
    # An epoch is the expected number of steps of one pass over the corpus, on
    # an endless stream of passes: Keras then knows every epoch's length
    # (progress bar, schedule) and no epoch ends on an exhausted iterator.
    dataset = generator.dataset(corpus, config.batch_size, config.seed, repeat=True)
    history = model.fit(dataset, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
                        callbacks=callbacks, shuffle=False,
                        verbose=1 if logging.level_info() else 0)
    save_model(model, vocab, config.model_dir)
    return model, vocab, history


def save_model(model, vocab, model_dir):
    """Writes model.keras and vectors.txt atomically."""
    final = os.path.join(model_dir, MODEL_FILE)
    partial = os.path.join(model_dir, ".partial-" + MODEL_FILE)
    model.save(partial)
    os.replace(partial, final)
    vectors.save_word2vec_text(os.path.join(model_dir, VECTORS_FILE),
                               vocab.words, model.word_vectors())


def load_trained(model_dir):
    """(SkipGram model, Vocabulary, settings dict) of a trained model_dir."""
    model_file = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(model_file):
        raise UsageError(f"no trained model in {model_dir} (missing {MODEL_FILE})")
    with open(os.path.join(model_dir, CONFIG_FILE), encoding="utf-8") as f:
        settings = json.load(f)["settings"]
    vocab = Vocabulary.load(vocab_path(model_dir))
    return keras.models.load_model(model_file), vocab, settings
