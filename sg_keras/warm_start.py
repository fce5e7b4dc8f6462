"""Continued training: a run that starts from a trained model_dir (``--init_from``).

The new run's vocabulary is the old one followed by the new corpus's words that pass
``min_count`` (old words keep their ids, so an old export's ids stay valid); each
word's count is its old count plus its new one, for subsampling and the noise
distribution; the old rows of both matrices (and the n-gram buckets' rows) are
copied into the new model, the new words' rows initialised as at the start of any
run. The learning-rate schedule starts again from the run's learning rate.

Settings that give the matrices their meaning (FIXED_SETTINGS) must equal the old
run's; the others (the window, subsampling, epochs, learning rate, …) may change.
"""

import dataclasses
import os

import numpy as np

from sg_keras.errors import UsageError
from sg_keras.model_dir import ModelDir
from sg_keras.variables import shards
from sg_keras.vocab import Vocabulary

# What a continued run keeps from the model it starts from.
FIXED_SETTINGS = ("dim", "loss", "tokenizer", "min_n", "max_n", "buckets")


@dataclasses.dataclass
class Start:
    """The trained model a run continues: its model_dir, settings, vocabulary, model and
    phrases (a PhraseTable or None)."""

    path: str
    settings: dict
    vocab: Vocabulary
    model: object
    phrases: object

    @classmethod
    def read(cls, path):
        """The finished model_dir at ``path``; UsageError when it is not one.

        Example:

        >>> Start.read("no/such/run")
        Traceback (most recent call last):
          ...
        sg_keras.errors.UsageError: --init_from no/such/run is not a trained model_dir (no model.keras)
        """
        model_dir = _trained_model_dir(path)
        trained = model_dir.load()
        return cls(path, trained.settings, trained.vocab, trained.model,
                   model_dir.read_phrases())

    @staticmethod
    def read_settings(path):
        """The settings of the finished run at ``path`` (the command line's defaults when
        continuing it), without loading its model."""
        return _trained_model_dir(path).read_record()["settings"]

    def check(self, config, phrase_table):
        """Refuses (UsageError) a config that changes a FIXED_SETTINGS setting or the
        phrases of the run it continues, or writes into that run's model_dir."""
        if os.path.abspath(config.model_dir) == os.path.abspath(self.path):
            raise UsageError("--model_dir must differ from --init_from: the run it continues "
                             "is kept as it is")
        if self.settings.get("loss") == "hs":
            raise UsageError(f"--init_from: {self.path} was trained with --loss=hs, whose "
                             "Huffman tree is built from the word counts that continuing "
                             "changes; continue negative, sampled or softmax models")
        for name in FIXED_SETTINGS:
            old, new = self.settings.get(name), getattr(config, name)
            if old != new:
                raise UsageError(f"--{name}={new} differs from the run it continues "
                                 f"({self.path}: {name}={old}); continued training keeps it")
        if phrase_table is not None and (self.phrases is None
                                         or phrase_table.to_tsv() != self.phrases.to_tsv()):
            raise UsageError(f"--phrases differs from the phrases of {self.path}; a continued "
                             "run joins the phrases of the run it continues")

    def grown_vocabulary(self, counted, min_count, max_vocab_size=0):
        """(vocabulary, the new corpus's count of each of its words): the old words in
        their order, then the words of ``counted`` (the new corpus's Vocabulary, every
        word) not among them that occur ``min_count`` times, in ``counted``'s order, up
        to ``max_vocab_size`` words in all (0: no bound); counts old plus new.

        Example:

        >>> start = Start("old", {}, Vocabulary(["the", "cat"], np.array([9, 4])), None, None)
        >>> vocab, new_counts = start.grown_vocabulary(
        ...     Vocabulary(["the", "dog", "emu"], np.array([5, 3, 1])), min_count=2)
        >>> vocab.words, vocab.counts.tolist(), new_counts.tolist()
        (['the', 'cat', 'dog'], [14, 4, 3], [5, 0, 3])
        """
        old = self.vocab
        index = old.index()
        new_counts = dict(zip(counted.words, counted.counts.tolist()))
        added = [word for word, count in zip(counted.words, counted.counts.tolist())
                 if count >= min_count and word not in index]
        if max_vocab_size:
            added = added[:max(0, max_vocab_size - len(old))]
        words = old.words + added
        corpus_counts = np.array([new_counts.get(word, 0) for word in words], np.int64)
        counts = np.concatenate([old.counts, np.zeros(len(added), np.int64)]) + corpus_counts
        return Vocabulary(words, counts), corpus_counts

    def copy_weights(self, model):
        """Copies the old model's rows into ``model`` (the new run's, built for the grown
        vocabulary): word rows and output rows 0 … V_old - 1, and with subwords the n-gram
        buckets' rows (after the words' in the hidden matrix)."""
        old = self.model
        old_words = old.vocab_size
        hidden = np.asarray(old.matrices[0])
        _assign_rows(model.embedding.embeddings, 0, hidden[:old_words])
        if old.subwords is not None:
            _assign_rows(model.embedding.embeddings, model.vocab_size, hidden[old_words:])
        _assign_rows(model.context_softmax.kernel, 0, np.asarray(old.matrices[1]))


def _trained_model_dir(path):
    model_dir = ModelDir(path)
    if not os.path.isfile(model_dir.model_path):
        raise UsageError(f"--init_from {path} is not a trained model_dir (no model.keras)")
    return model_dir


def _assign_rows(variable, start, rows):
    """variable[start : start + len(rows)] = rows, shard by shard (a ParameterServerStrategy
    variable is split row-wise)."""
    offset = 0
    for shard in shards(variable.value):
        length = shard.shape[0]
        low, high = max(start, offset), min(start + len(rows), offset + length)
        if low < high:
            shard[low - offset:high - offset].assign(rows[low - start:high - start])
        offset += length
