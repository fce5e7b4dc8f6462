"""Training: corpus → vocabulary → tf.data pairs → SkipGram → training loop → model_dir.

:func:`train` is the one training entry, whatever the strategy: the strategy object
(sg_keras.strategies) says where the vocabulary is counted, where files are
written, where the model lives and how it trains (sg_keras.loops); sg_keras.model_dir
owns the files.
"""

import dataclasses
import time

import keras
import tensorflow as tf
from absl import logging

from sg_keras import (corpus, huffman, objectives, pairs, phrases, process, strategies, subwords,
                      warm_start)
from sg_keras import backup as backup_lib
from sg_keras.callbacks import (EmbeddingProjector, LatestWeights, NearestNeighbourSummary,
                                StopOnDivergence, TrainingSpeed, WordVectorEvaluation,
                                probe_word_ids)
from sg_keras.config import TrainConfig
from sg_keras.corpus import Corpus, ShardedCorpus, sentences_per_block
from sg_keras.errors import UsageError
from sg_keras.model import SkipGram
from sg_keras.model_dir import ModelDir
from sg_keras.optimizers import RowSGD
from sg_keras.schedules import LinearDecay
from sg_keras.vocab import count_vocabulary, vocabulary_from_file

__all__ = ["TrainConfig", "train"]


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How long a run trains: epochs of ``steps_per_epoch`` steps of ``batch_size`` pairs,
    backed up every ``backup_interval`` seconds (and after each epoch)."""

    epochs: int
    steps_per_epoch: int
    steps_per_execution: int
    batch_size: int
    backup_interval: float = 0.0


def epoch_steps(expected_pairs, batch_size, steps_per_execution, whole_executions):
    """(steps per epoch, steps per execution): an epoch is one expected pass over the corpus.

    ``whole_executions``: Keras' train function runs whole executions only (Keras 3
    would run an epoch of 3 steps as one execution of 32), so there the epoch is
    rounded to a whole number of executions, and an execution is at most an epoch.

    Example:

    >>> epoch_steps(expected_pairs=100_000, batch_size=4096, steps_per_execution=8,
    ...             whole_executions=True)
    (24, 8)
    """
    steps = max(1, round(expected_pairs / batch_size))
    execution = min(steps_per_execution, steps)
    if whole_executions:
        steps = execution * max(1, round(steps / execution))
    return steps, execution


class TrainingPairs:
    """The endless stream of training pairs of a run: of the whole corpus, or of a shard."""

    def __init__(self, config, vocab, counts, phrase_table=None):
        self.config = config
        self.vocab = vocab
        self.counts = counts
        self.phrase_table = phrase_table
        self.corpus = Corpus(config.corpus)

    def _generator(self):
        config = self.config
        return pairs.PairGenerator(self.vocab, config.window, config.sample,
                                   config.shrink_window, config.tokenizer,
                                   self.phrase_table and self.phrase_table.copy())

    def dataset(self, batch_size, skip_batches=0):
        """Batches of the whole corpus, read in this process (sg_keras.corpus.Corpus),
        from batch ``skip_batches`` on."""
        return self._generator().dataset(self.corpus, batch_size, self.config.seed,
                                         repeat=True, skip_batches=skip_batches)

    def shard(self, num_shards, index, batch_size, skip_batches=0):
        """Batches of one worker's shard, read with TF ops (sg_keras.corpus.ShardedCorpus),
        from batch ``skip_batches`` on."""
        shard = ShardedCorpus(self.config.corpus, num_shards, index,
                              sentences_per_block(self.counts))
        return self._generator().dataset(shard, batch_size, self.config.seed, repeat=True,
                                         skip_batches=skip_batches)


# The most tokens a block of sentences can hold: a token and a separator per two characters.
BLOCK_TOKENS = corpus.BLOCK_CHARS // 2
# How many [batch, ·] float tensors of a step live at once: rows gathered, logits,
# their gradients.
STEP_FLOATS = 8


def check_run_memory(config, vocab_size):
    """Refuses (UsageError) a run whose model, step or pipeline the machine cannot hold.

    An estimate of the peak, from the sizes the settings give: both matrices ([V, d],
    or [V + buckets, d] for the hidden layer with subwords) and a copy of one while
    saving; a step's [batch, dim] and [batch, num_sampled] tensors ([batch, V] for
    ``softmax``); two blocks' neighbour matrices in flight.
    """
    words, dim, batch = vocab_size, config.dim, config.batch_size
    hidden_rows = words + (config.buckets if config.subwords else 0)
    model = 4 * dim * (2 * hidden_rows + words)
    step = 4 * batch * STEP_FLOATS * (dim + config.num_sampled)
    if config.loss == "softmax":
        step += 4 * batch * STEP_FLOATS * words
    pipeline = 2 * pairs.neighbour_matrix_bytes(BLOCK_TOKENS, config.window)
    what = (f"--dim={dim} --batch_size={batch} --num_sampled={config.num_sampled} "
            f"--window={config.window} --loss={config.loss}")
    if config.subwords:
        what += f" --buckets={config.buckets}"
    process.check_memory(model + step + pipeline,
                         f"{what} with {words:,} words" if words else what)


def load_phrases(config):
    """The PhraseTable of ``config.phrases`` (None without); UsageError for a file that is
    not one, or was made with another tokenizer."""
    if not config.phrases:
        return None
    return phrases.PhraseTable.load(config.phrases, config.tokenizer)


def prepare_vocabulary(config, phrase_table=None, start=None):
    """Counts the corpus (its phrases joined) and builds the vocabulary, or reads it from
    ``config.vocab`` and counts only the corpus's tokens and sentences (nothing written):
    (Vocabulary, CorpusCounts). Continuing ``start`` (a warm_start.Start), the vocabulary
    is its vocabulary grown by the new words."""
    started = time.perf_counter()
    # Continuing, every new word's count is needed: old words' counts grow whatever they are.
    min_count, max_vocab_size = (1, 0) if start else (config.min_count, config.max_vocab_size)
    if config.vocab:
        vocab, counts = vocabulary_from_file(config.vocab, Corpus(config.corpus),
                                             config.tokenizer, min_count, max_vocab_size,
                                             phrase_table)
    else:
        vocab, counts = count_vocabulary(Corpus(config.corpus), config.tokenizer, min_count,
                                         max_vocab_size, phrase_table)
    if start:
        vocab, corpus_counts = start.grown_vocabulary(vocab, config.min_count,
                                                      config.max_vocab_size)
        counts = dataclasses.replace(counts, word_counts=corpus_counts.tolist())
        logging.info("continuing %s: %d words, %d of them new", start.path, len(vocab),
                     len(vocab) - len(start.vocab))
    if counts.tokens == counts.sentences:
        raise UsageError("every sentence of the corpus is one word: it gives no training "
                         "pairs (a sentence is a line)")
    logging.info("counted %d tokens, %d sentences in %.1fs: %d words kept, "
                 "%d invalid UTF-8 sequences replaced", counts.tokens, counts.sentences,
                 time.perf_counter() - started, len(vocab), counts.invalid_utf8)
    if counts.pruned_below:
        logging.warning("the corpus has more distinct words than the counting table holds for "
                        "--max_vocab_size=%d: words counted at most %d times were dropped "
                        "while counting (word2vec.c's pruning); counts below that are "
                        "approximate", config.max_vocab_size, counts.pruned_below)
    if counts.invalid_utf8:
        logging.warning("%d invalid UTF-8 byte sequences were replaced by U+FFFD",
                        counts.invalid_utf8)
    return vocab, counts


def load_start(config):
    """(warm_start.Start of ``config.init_from`` or None, the run's PhraseTable or None):
    a continued run joins the phrases of the run it continues. UsageError for a start that
    is not a trained model_dir or that the config conflicts with."""
    phrase_table = load_phrases(config)
    if not config.init_from:
        return None, phrase_table
    start = warm_start.Start.read(config.init_from)
    start.check(config, phrase_table)
    return start, start.phrases


def hs_tree(config, vocab):
    """The vocabulary's Huffman paths (huffman.paths) for ``--loss=hs``, else None. Made
    before anything is written, so that counts with no tree fail with nothing left."""
    return huffman.paths(vocab.counts) if config.loss == "hs" else None


def build_model(config, vocab, start=None, tree=None):
    """The untrained SkipGram of a config and vocabulary (with its words' n-grams when
    the config has subwords, and for ``hs`` the paths ``tree`` of hs_tree); continuing
    ``start``, with its rows copied in."""
    options = {"tree": tree} if tree is not None else {}
    if config.subwords:
        options["subwords"] = {"buckets": config.buckets, "min_n": config.min_n,
                               "max_n": config.max_n}
        options["word_pieces"] = subwords.word_pieces(vocab.words, config.min_n,
                                                      config.max_n, config.buckets)
    model = SkipGram(len(vocab), config.dim, loss=config.loss, negative=config.negative,
                     num_sampled=config.num_sampled, seed=config.seed,
                     noise_counts=vocab.counts, **options)
    if start:
        start.copy_weights(model)
    return model


def _write_run(config, model_dir, vocab, counts, phrase_table):
    """Writes vocab.tsv, phrases.tsv and config.json (settings, corpus counts, the pairs
    one epoch is expected to give); returns that expected number of pairs."""
    expected_pairs = pairs.expected_pairs(vocab.counts, config.sample, config.window,
                                          config.shrink_window, counts.sentences,
                                          counts.word_counts)
    model_dir.write_run(config.settings(), config.corpus, vocab, {
        "corpus_tokens": counts.tokens, "corpus_sentences": counts.sentences,
        "invalid_utf8": counts.invalid_utf8, "expected_pairs_per_epoch": expected_pairs},
        phrase_table)
    return expected_pairs


def train(config, extra_callbacks=()):
    """Trains a SkipGram model as configured and writes model_dir; returns (model, vocab, history).

    ``extra_callbacks``: Keras callbacks run after sg_keras's own (e.g. EarlyStopping).
    Under a cluster strategy every task of the cluster calls this with the same
    config: a ps or worker task of a parameter-server cluster serves until it is
    stopped and never returns; under multi_worker the tasks other than the chief
    train alongside it and write into temporary directories, removed at the end.

    Example:

    >>> import os, tempfile
    >>> work = tempfile.mkdtemp()
    >>> with open(os.path.join(work, "corpus.txt"), "w") as f:
    ...     _ = f.write("the quick brown fox jumps over the lazy dog\\n" * 50)
    >>> model, vocab, history = train(TrainConfig(
    ...     corpus=[os.path.join(work, "corpus.txt")], model_dir=os.path.join(work, "run"),
    ...     dim=8, min_count=1, epochs=1, tokenizer="whitespace"))
    >>> vocab.words[0], model.word_vectors().shape
    ('the', (8, 8))
    """
    config.validate()
    check_run_memory(config, vocab_size=0)
    process.limit_op_threads(config.loss in objectives.SPARSE_LOSSES)
    process.keep_freed_memory_in_heap()
    strategy = strategies.connect(config.strategy)
    strategy.join(config)
    evaluations = []
    if config.eval_analogies or config.eval_similarity:  # a bad file fails before training
        evaluations.append(WordVectorEvaluation(config.eval_analogies, config.eval_similarity,
                                                config.restrict_vocab))
    keras.utils.set_random_seed(config.seed)
    with strategy.output_dir(config.model_dir) as path, ModelDir(path).lock() as model_dir:
        return _train(config, strategy, model_dir, evaluations, extra_callbacks)


def _train(config, strategy, model_dir, evaluations, extra_callbacks):
    """train()'s steps once the strategy has joined and model_dir is held."""
    start, phrase_table = load_start(config)
    model_dir.check_reusable(config.settings(), config.corpus, phrase_table)
    backup = backup_lib.Backup(model_dir.backup_dir, strategy.backup_kind)
    backup_lib.check_kind(backup.directory, backup.kind)  # before counting
    vocab, counts = strategy.share_vocabulary(lambda: prepare_vocabulary(config, phrase_table,
                                                                         start))
    model_dir.check_vocabulary(vocab)
    check_run_memory(config, len(vocab))
    tree = hs_tree(config, vocab)
    probe_ids = probe_word_ids(vocab, config.probe_words, config.tokenizer,
                               phrase_table)  # before writing
    expected_pairs = _write_run(config, model_dir, vocab, counts, phrase_table)
    schedule = Schedule(config.epochs, *epoch_steps(
        expected_pairs, config.batch_size, config.steps_per_execution,
        strategy.whole_executions), config.batch_size, config.backup_interval)
    with strategy.scope():
        model = build_model(config, vocab, start, tree)
        model.compile(optimizer=RowSGD(LinearDecay(
            config.learning_rate, schedule.steps_per_epoch * schedule.epochs)),
            steps_per_execution=schedule.steps_per_execution)
    for callback in evaluations:
        callback.words = vocab.words
    callbacks = _callbacks(config, model_dir, vocab, probe_ids, expected_pairs / counts.tokens,
                           evaluations, extra_callbacks)
    verbose = 1 if logging.level_info() and strategy.is_chief else 0
    started = time.perf_counter()
    training_pairs = TrainingPairs(config, vocab, counts, phrase_table)
    try:
        history, model = strategy.fit(model, training_pairs, schedule, callbacks,
                                      backup, verbose)
    except tf.errors.OpError:
        training_pairs.corpus.check_read()  # a corpus file that became unreadable
        raise
    trained = time.perf_counter()
    model_dir.save_model(model, vocab)
    backup.remove()  # only now: a kill while saving resumes from the last epoch's backup
    logging.info("trained %d epochs in %.1fs, saved the model in %.1fs", config.epochs,
                 trained - started, time.perf_counter() - trained)
    return model, vocab, history


def write_untrained(config):
    """Writes the model_dir of an initialised, untrained model (a baseline); returns the
    vocabulary. Holds and checks the model_dir as train() does."""
    with ModelDir(config.model_dir).lock() as model_dir:
        start, phrase_table = load_start(config)
        model_dir.check_reusable(config.settings(), config.corpus, phrase_table)
        vocab, counts = prepare_vocabulary(config, phrase_table, start)
        model_dir.check_vocabulary(vocab)
        check_run_memory(config, len(vocab))
        tree = hs_tree(config, vocab)
        _write_run(config, model_dir, vocab, counts, phrase_table)
        model_dir.save_model(build_model(config, vocab, start, tree), vocab)
    return vocab


def _callbacks(config, model_dir, vocab, probe_ids, pairs_per_word, evaluations,
               extra_callbacks):
    """The callbacks of a training run writing into model_dir, in the order they run.

    StopOnDivergence comes first, so that no callback (nor the loop's backup after
    them) saves or reads diverged weights; the evaluations run before the TensorBoard callback, which logs
    their figures.
    """
    return [
        StopOnDivergence(),
        TrainingSpeed(config.batch_size, pairs_per_word),
        *evaluations,
        LatestWeights(model_dir.checkpoint_path),
        # Batch-level callbacks run once per execution (steps_per_execution
        # steps); update_freq=1 logs each. A larger update_freq would also make
        # Keras drop the epoch summaries of epochs whose execution count it
        # does not divide.
        keras.callbacks.TensorBoard(model_dir.logs_dir, update_freq=1),
        NearestNeighbourSummary(model_dir.projector_dir, vocab.words, probe_ids),
        EmbeddingProjector(model_dir.projector_dir, vocab.words, vocab.counts),
        *extra_callbacks,
    ]
