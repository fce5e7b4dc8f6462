"""Training: corpus → vocabulary → tf.data pairs → SkipGram → model.fit → model_dir.

``model_dir`` after a run holds ``vocab.tsv``, ``config.json``, ``model.keras``
(the final model), ``vectors.txt`` (word2vec text format), ``checkpoints/``
(weights after the latest epoch), ``logs/`` (TensorBoard; ``logs/embeddings``: probe
words' neighbours and the Embedding Projector) and, while a run is under
way, ``backup/`` (BackupAndRestore: a rerun with the same settings resumes).

``TrainConfig.strategy`` picks a tf.distribute strategy (sg_keras.distribute); under
a cluster strategy every task of the cluster runs :func:`train` with the same config.
"""

import dataclasses
import json
import os
import shutil
import tempfile
import time

import keras
import tensorflow as tf
from absl import logging

from sg_keras import distribute, pairs, projector, text, vectors
from sg_keras.callbacks import (EmbeddingProjector, NearestNeighbourSummary, StopOnDivergence,
                                TrainingSpeed, WordVectorEvaluation, probe_word_ids)
from sg_keras.errors import UsageError
from sg_keras.io_utils import atomic_open, atomic_write_text, zip_directory
from sg_keras.model import LOSSES, LinearDecay, SkipGram
from sg_keras.vocab import Vocabulary, build_vocabulary, count_words, vocab_path

BACKUP_DIR = "backup"
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
    probe_words: list = dataclasses.field(default_factory=list)  # default: frequent words
    strategy: str = "default"  # see distribute.STRATEGIES

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
        if self.strategy not in distribute.STRATEGIES:
            raise UsageError(f"unknown strategy {self.strategy!r}: choose one of "
                             f"{', '.join(distribute.STRATEGIES)}")
        if not self.model_dir:
            raise UsageError("--model_dir is required")

    def settings(self):
        """The settings that shape the model (all but where data comes from and goes)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("corpus", "model_dir", "eval_analogies", "eval_similarity",
                             "restrict_vocab", "probe_words", "strategy")}


SPARSE_LOSSES = ("negative", "sampled")  # their train step is many small ops


def limit_op_threads(loss):
    """One thread per TensorFlow op for the sparse objectives, unless TF_NUM_INTRAOP_THREADS is set.

    Their step is a chain of small ops on [batch, dim] tensors: splitting each op
    across the cores cost more CPU than it saved, CPU the input pipeline needs
    (benchmarks/RESULTS.md); independent ops still run in parallel (inter-op).
    Only possible before TensorFlow's runtime starts; later it is left as it is.
    """
    if loss not in SPARSE_LOSSES or "TF_NUM_INTRAOP_THREADS" in os.environ:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        logging.debug("TensorFlow ops run on one thread each (TF_NUM_INTRAOP_THREADS overrides)")
    except RuntimeError:
        logging.info("TensorFlow's runtime has started: its intra-op threads stay at %d",
                     tf.config.threading.get_intra_op_parallelism_threads())


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
    """Trains a SkipGram model as configured and writes model_dir; returns (model, vocab, history).

    Under a cluster strategy every task of the cluster calls this with the same config
    (sg_keras.distribute): a ps or worker task of a parameter-server cluster serves
    until it is stopped and never returns; under multi_worker the tasks other than the
    chief train alongside it and write into temporary directories, removed at the end.
    """
    config.validate()
    limit_op_threads(config.loss)
    distribution = distribute.connect(config.strategy)
    if distribution.reads_corpus:
        text.check_corpus_files(config.corpus)
    if distribution.serves:
        distribution.serve()
    if config.strategy == "multi_worker" and config.batch_size < distribution.workers:
        raise UsageError(f"--batch_size={config.batch_size} is smaller than the "
                         f"{distribution.workers} workers that share each batch")
    if distribution.is_chief:
        _check_resumable(config)
    _check_backup(config)
    evaluations = []
    if config.eval_analogies or config.eval_similarity:  # a bad file fails before training
        evaluations.append(WordVectorEvaluation(config.eval_analogies, config.eval_similarity,
                                                config.restrict_vocab))
    keras.utils.set_random_seed(config.seed)

    corpus = vocab = counts = None
    if distribution.is_chief:
        corpus, vocab, counts = prepare_vocabulary(config)
    vocab, counts = distribution.share_vocabulary(vocab, counts)
    probe_ids = probe_word_ids(vocab, config.probe_words, config.tokenizer)
    for callback in evaluations:
        callback.words = vocab.words
    expected_pairs = pairs.expected_pairs(vocab.counts, config.sample, config.window,
                                          config.shrink_window, counts.sentences)
    uses_fit = config.strategy in distribute.FIT_STRATEGIES
    steps_per_epoch, steps_per_execution = epoch_steps(
        expected_pairs, config.batch_size, config.steps_per_execution, whole_executions=uses_fit)

    if distribution.is_chief:
        write_dir = config.model_dir
        os.makedirs(config.model_dir, exist_ok=True)
        vocab.save(vocab_path(config.model_dir))
        _write_json(os.path.join(config.model_dir, CONFIG_FILE), {
            "settings": config.settings(), "corpus": config.corpus,
            "corpus_tokens": counts.tokens, "corpus_sentences": counts.sentences,
            "invalid_utf8": counts.invalid_utf8, "vocab_size": len(vocab),
            "expected_pairs_per_epoch": expected_pairs})
    else:
        write_dir = distribute.temporary_model_dir()
    try:
        with distribution.scope():
            model = build_model(config, vocab)
            model.compile(
                optimizer=keras.optimizers.SGD(
                    LinearDecay(config.learning_rate, steps_per_epoch * config.epochs)),
                steps_per_execution=steps_per_execution)
        callbacks = _callbacks(config, write_dir, vocab, probe_ids,
                               expected_pairs / counts.tokens, evaluations, extra_callbacks,
                               backup=uses_fit)
        verbose = 1 if logging.level_info() and distribution.is_chief else 0
        started = time.perf_counter()
        if uses_fit:
            # An epoch is the expected number of steps of one pass over the corpus, on
            # an endless stream of passes: Keras then knows every epoch's length
            # (progress bar, schedule) and no epoch ends on an exhausted iterator.
            generator = pairs.PairGenerator(vocab, config.window, config.sample,
                                            config.shrink_window, config.tokenizer)
            dataset = distribution.fit_input(
                lambda batch_size: generator.dataset(corpus, batch_size, config.seed,
                                                     repeat=True), config.batch_size)
            history = model.fit(dataset, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
                                callbacks=callbacks, shuffle=False, verbose=verbose)
        else:
            def shard_dataset(num_shards, shard_index, batch_size):
                generator = pairs.PairGenerator(vocab, config.window, config.sample,
                                                config.shrink_window, config.tokenizer)
                shard = distribute.ShardedCorpus(config.corpus, num_shards, shard_index,
                                                 distribute.sentences_per_block(counts))
                return generator.dataset(shard, batch_size, config.seed, repeat=True)

            history, model = distribution.fit(
                model, shard_dataset, config.batch_size, config.epochs, steps_per_epoch,
                steps_per_execution, callbacks, os.path.join(write_dir, BACKUP_DIR),
                verbose)
        trained = time.perf_counter()
        save_model(model, vocab, write_dir)
    finally:
        if not distribution.is_chief:
            shutil.rmtree(write_dir, ignore_errors=True)
    logging.info("trained %d epochs in %.1fs, saved the model in %.1fs", config.epochs,
                 trained - started, time.perf_counter() - trained)
    return model, vocab, history


def epoch_steps(expected_pairs, batch_size, steps_per_execution, whole_executions):
    """(steps per epoch, steps per execution): an epoch is one expected pass over the corpus.

    ``whole_executions``: model.fit runs whole executions only (Keras 3 would run an
    epoch of 3 steps as one execution of 32), so there the epoch is rounded to a
    whole number of executions, and an execution is at most an epoch.
    """
    steps = max(1, round(expected_pairs / batch_size))
    execution = min(steps_per_execution, steps)
    if whole_executions:
        steps = execution * max(1, round(steps / execution))
    return steps, execution


def _callbacks(config, model_dir, vocab, probe_ids, pairs_per_word, evaluations,
               extra_callbacks, backup):
    """The callbacks of a training run writing into model_dir, in the order they run.

    ``backup``: with BackupAndRestore (model.fit; the custom loops back up themselves).
    StopOnDivergence comes first, so that no callback saves or reads diverged weights.
    """
    checkpoints = os.path.join(model_dir, "checkpoints")
    os.makedirs(checkpoints, exist_ok=True)
    backups = [keras.callbacks.BackupAndRestore(os.path.join(model_dir, BACKUP_DIR),
                                                double_checkpoint=True)] if backup else []
    return [
        StopOnDivergence(),
        *backups,
        TrainingSpeed(config.batch_size, pairs_per_word),
        *evaluations,
        keras.callbacks.ModelCheckpoint(
            os.path.join(checkpoints, "latest.weights.h5"), save_weights_only=True),
        # Batch-level callbacks run once per execution (steps_per_execution
        # steps); update_freq=1 logs each. A larger update_freq would also make
        # Keras drop the epoch summaries of epochs whose execution count it
        # does not divide.
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs"), update_freq=1),
        NearestNeighbourSummary(projector.run_dir(model_dir), vocab.words, probe_ids),
        EmbeddingProjector(projector.run_dir(model_dir), vocab.words, vocab.counts),
        *extra_callbacks,
    ]


def _check_backup(config):
    """An interrupted run resumes only under a strategy that reads its kind of backup."""
    backup = os.path.join(config.model_dir, BACKUP_DIR)
    by_fit = os.path.exists(os.path.join(backup, "latest.weights.h5"))  # BackupAndRestore
    by_loop = os.path.exists(os.path.join(backup, "checkpoint"))  # distribute's loops
    uses_fit = config.strategy in distribute.FIT_STRATEGIES
    if (by_fit and not uses_fit) or (by_loop and uses_fit):
        kind = "default or mirrored" if by_fit else "multi_worker or parameter_server"
        raise UsageError(f"{backup} holds an interrupted --strategy={kind} run: resume it "
                         "with that strategy, or delete the directory to start over")


def save_model(model, vocab, model_dir):
    """Writes model.keras and vectors.txt atomically.

    model.keras is the archive ``model.save`` writes, but model.save would build
    the weights' HDF5 file in memory (a copy of both matrices); here Keras
    writes the unzipped model to disk and the archive is made from its files.
    """
    with atomic_open(os.path.join(model_dir, MODEL_FILE)) as archive, \
            tempfile.TemporaryDirectory(dir=model_dir, prefix=".tmp-") as unzipped:
        model.save(unzipped, zipped=False)
        zip_directory(unzipped, archive)
    vectors.save_word2vec_text(os.path.join(model_dir, VECTORS_FILE),
                               vocab.words, model.word_vectors())


def load_trained(model_dir):
    """(SkipGram model, Vocabulary, settings dict) of a trained model_dir."""
    model_file = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(model_file):
        raise UsageError(f"no trained model in {model_dir} (missing {MODEL_FILE})")
    try:
        with open(os.path.join(model_dir, CONFIG_FILE), encoding="utf-8") as f:
            settings = json.load(f)["settings"]
    except (OSError, ValueError, KeyError):
        raise UsageError(f"{model_dir}: missing or malformed {CONFIG_FILE}") from None
    vocab = Vocabulary.load(vocab_path(model_dir))
    return keras.models.load_model(model_file), vocab, settings
