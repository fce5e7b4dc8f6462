"""The model_dir: its layout, and the only code that writes or reads a trained model's files.

After a run, ``MODEL_DIR/`` holds::

    vocab.tsv                 the vocabulary: word<TAB>count, row i on line i
    phrases.tsv               with --phrases: the phrases joined into words (sg_keras.phrases)
    config.json               the settings (sg_keras.config.SETTINGS), the corpus and its counts
    model.keras               the Keras model (keras.models.load_model after import sg_keras.model)
    vectors.txt               word2vec text format (gensim's load_word2vec_format reads it)
    checkpoints/latest.weights.h5   the weights after the latest epoch
    logs/train/               TensorBoard scalars (Keras' TensorBoard callback)
    logs/embeddings/          probe words' neighbours and the Embedding Projector's files
    backup/                   while a run is under way: what a rerun resumes (sg_keras.backup)

Every file is written to a temporary name beside it and renamed.
"""

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import tempfile

import keras
import numpy as np

from sg_keras import vectors
from sg_keras.phrases import PhraseTable
from sg_keras.errors import UsageError
from sg_keras.io_utils import (atomic_open, atomic_write_text, first_missing, remove_empty_dirs,
                               zip_directory)
from sg_keras.model import SkipGram
from sg_keras.vocab import Vocabulary

VOCAB_FILE = "vocab.tsv"
PHRASES_FILE = "phrases.tsv"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
VECTORS_FILE = "vectors.txt"
CHECKPOINT_FILE = os.path.join("checkpoints", "latest.weights.h5")
BACKUP_DIR = "backup"
LOGS_DIR = "logs"
PROJECTOR_RUN = "embeddings"  # the TensorBoard run of the word vectors, under logs/
@dataclasses.dataclass
class TrainedModel:
    """A trained model read back from its model_dir."""

    model: keras.Model
    vocab: Vocabulary
    settings: dict


class ModelDir:
    """The files of one training run's directory.

    Example:

    >>> import tempfile
    >>> from sg_keras.vocab import Vocabulary
    >>> model_dir = ModelDir(tempfile.mkdtemp())
    >>> model_dir.write_run({"dim": 2}, ["corpus.txt"], Vocabulary(["a", "b"], [2, 1]),
    ...                     {"corpus_tokens": 3})
    >>> model_dir.read_record()["settings"], model_dir.read_vocabulary().words
    ({'dim': 2}, ['a', 'b'])
    """

    def __init__(self, path):
        self.path = path

    def _file(self, name):
        return os.path.join(self.path, name)

    @property
    def vocab_path(self):
        return self._file(VOCAB_FILE)

    @property
    def phrases_path(self):
        return self._file(PHRASES_FILE)

    @property
    def config_path(self):
        return self._file(CONFIG_FILE)

    @property
    def model_path(self):
        return self._file(MODEL_FILE)

    @property
    def vectors_path(self):
        return self._file(VECTORS_FILE)

    @property
    def checkpoint_path(self):
        return self._file(CHECKPOINT_FILE)

    @property
    def backup_dir(self):
        return self._file(BACKUP_DIR)

    @property
    def logs_dir(self):
        return self._file(LOGS_DIR)

    @property
    def projector_dir(self):
        """The TensorBoard run of the word vectors: ``MODEL_DIR/logs/embeddings``."""
        return os.path.join(self.logs_dir, PROJECTOR_RUN)

    @contextlib.contextmanager
    def lock(self):
        """Holds the model_dir for this process's run: a second writer is refused.

        The lock is the kernel's (``flock`` on the directory), so a process that is
        killed holds it no longer. The directory is created if need be, and removed
        again if the run fails before writing anything into it. UsageError when it
        is not a writable directory or another process holds it.
        """
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise UsageError(f"--model_dir {self.path} exists and is not a directory")
        created = first_missing(self.path)
        try:
            os.makedirs(self.path, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path):  # os.access is no use under root
                pass
        except OSError as error:
            if created:
                remove_empty_dirs(self.path, created)
            raise UsageError(f"--model_dir {self.path} is not writable: {error.strerror}") from None
        handle = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"{self.path} is in use by another sg-keras train: one run "
                                 "writes a model_dir at a time") from None
            self._remove_temporaries()
            yield self
        finally:
            os.close(handle)
            if created:
                remove_empty_dirs(self.path, created)

    def _remove_temporaries(self):
        """Deletes what a killed run left half-written: files and directories under a
        temporary name (``.tmp-*``: sg_keras's; ``*_temp``, ``*.tmp*``: TensorFlow's
        checkpoint writer's), in model_dir and its backup, checkpoint and projector
        directories. Only the lock holder may: no other writer is at work."""
        for directory in (self.path, self.backup_dir, os.path.dirname(self.checkpoint_path),
                          self.projector_dir):
            if not os.path.isdir(directory):
                continue
            for name in os.listdir(directory):
                if name.startswith(".tmp-") or name.endswith("_temp") or ".tmp" in name:
                    path = os.path.join(directory, name)
                    if os.path.isdir(path):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.unlink(path)

    def check_reusable(self, settings, corpus, phrases=None):
        """Refuses (UsageError) a model_dir holding a run of other settings, corpus or
        phrases (a PhraseTable, or None)."""
        if not os.path.exists(self.config_path):
            return
        previous = self.read_record()
        if previous.get("settings") != settings or previous.get("corpus") != _paths(corpus):
            raise UsageError(f"{self.path} holds a run with other settings or corpus; "
                             "use a new --model_dir (or delete it)")
        recorded = self.read_phrases()
        if (recorded and recorded.to_tsv()) != (phrases and phrases.to_tsv()):
            raise UsageError(f"{self.path} holds a run with other phrases; use a new "
                             "--model_dir (or delete it)")

    def check_vocabulary(self, vocab):
        """Refuses (UsageError) a model_dir holding a run of another vocabulary (a --vocab
        file, or a corpus file, that changed between the run and its rerun)."""
        if not os.path.exists(self.config_path):
            return
        previous = self.read_vocabulary()
        if previous.words != vocab.words or not np.array_equal(previous.counts, vocab.counts):
            raise UsageError(f"{self.path} holds a run with another vocabulary (a --vocab or "
                             "corpus file changed?); use a new --model_dir (or delete it)")

    def write_run(self, settings, corpus, vocab, counts, phrases=None):
        """Writes vocab.tsv, phrases.tsv (given a PhraseTable) and config.json: the
        settings, the corpus and its ``counts``."""
        os.makedirs(self.path, exist_ok=True)
        vocab.save(self.vocab_path)
        if phrases is not None:
            phrases.save(self.phrases_path)
        record = {"settings": settings, "corpus": _paths(corpus), "vocab_size": len(vocab),
                  **counts}
        atomic_write_text(self.config_path, json.dumps(record, indent=2, sort_keys=True) + "\n")

    def read_record(self):
        """config.json as a dict; UsageError when it is missing or malformed."""
        try:
            with open(self.config_path, encoding="utf-8") as f:
                record = json.load(f)
            if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
                raise ValueError
            return record
        except (OSError, ValueError):
            raise UsageError(f"{self.path}: missing or malformed {CONFIG_FILE}") from None

    def read_vocabulary(self):
        return Vocabulary.load(self.vocab_path)

    def read_phrases(self):
        """The run's PhraseTable, or None for a run without phrases."""
        if not os.path.exists(self.phrases_path):
            return None
        return PhraseTable.load(self.phrases_path)

    def save_model(self, model, vocab):
        """Writes model.keras and vectors.txt, each atomically.

        model.keras is the archive ``model.save`` writes, but model.save would build
        the weights' HDF5 file in memory (a copy of both matrices); here Keras
        writes the unzipped model to disk and the archive is made from its files.
        """
        with atomic_open(self.model_path) as archive, \
                tempfile.TemporaryDirectory(dir=self.path, prefix=".tmp-") as unzipped:
            model.save(unzipped, zipped=False)
            zip_directory(unzipped, archive)
        vectors.save_word2vec_text(self.vectors_path, vocab.words, model.word_vectors())

    def load(self):
        """The TrainedModel of this model_dir; UsageError when it holds none."""
        if not os.path.exists(self.model_path):
            raise UsageError(f"no trained model in {self.path} (missing {MODEL_FILE})")
        settings = self.read_record()["settings"]
        vocab = self.read_vocabulary()
        model = keras.models.load_model(self.model_path)
        if not isinstance(model, SkipGram) or model.vocab_size != len(vocab):
            raise UsageError(f"{self.model_path} is not the SkipGram model of {self.vocab_path}")
        return TrainedModel(model, vocab, settings)


def _paths(corpus):
    """Corpus paths as recorded: absolute, so that a relative path names the same file."""
    return [os.path.abspath(path) for path in corpus]
