"""Backups of a training run: what a rerun of the same command resumes from.

A backup is a ``tf.train.Checkpoint`` of the model (its weights and its noise
sampler's state) and its optimizer, whose step count (``optimizer.iterations``)
drives the learning-rate schedule and says where the run stands: the epoch, the
step in it, and how many batches of the pair stream were trained on. The
training loops (sg_keras.loops) take one into ``MODEL_DIR/backup`` after each
epoch and, inside epochs, every ``--backup_interval`` seconds. ``tf.train.CheckpointManager`` writes each backup as a new
generation of files and then, atomically, the index that names it; the previous
generation is deleted only after that. So a kill or a full disk at any moment
leaves a backup that a rerun can read: the new one if it was complete, else the
one before.

The kind of strategy that wrote a backup is recorded in its files' names
(``local-N.*``: default or mirrored, which train on the whole corpus's pair stream;
``cluster-N.*``: multi_worker or parameter_server, which train on shards of it), and
a backup is resumed only by a strategy of its kind.
"""

import os
import shutil

import tensorflow as tf
from absl import logging

from sg_keras.errors import UsageError

KINDS = {"local": "default or mirrored", "cluster": "multi_worker or parameter_server"}
# The names the previous version gave them (resumable: their step is an epoch's end).
_FORMER_NAMES = {"fit": "local", "loop": "cluster"}
GENERATIONS = 2  # the newest backup, and the one before while the newest is written


def check_kind(directory, kind):
    """Refuses (UsageError) a backup in ``directory`` that a strategy of another kind wrote."""
    latest = tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
    written = os.path.basename(latest).rsplit("-", 1)[0] if latest else None
    written = _FORMER_NAMES.get(written, written)
    if written not in (None, kind):
        if written not in KINDS:
            raise UsageError(f"{directory} holds a backup this version of sg_keras did not "
                             "write: delete the directory to start over")
        raise UsageError(f"{directory} holds an interrupted --strategy={KINDS[written]} run: "
                         "resume it with that strategy, or delete the directory to start over")


class Backup:
    """A run's backups in ``directory``, written by a strategy of ``kind`` (one of KINDS).

    Example:

    >>> import tempfile, keras
    >>> from sg_keras.model import SkipGram
    >>> model = SkipGram(vocab_size=4, dim=2, noise_counts=[4, 3, 2, 1])
    >>> model.compile(optimizer=keras.optimizers.SGD(0.1))
    >>> backup = Backup(tempfile.mkdtemp(), "local")
    >>> backup.restore(model)  # nothing to resume: 0 steps done
    0
    >>> _ = model.optimizer.iterations.assign(96)  # as if 96 steps had been trained
    >>> backup.save()
    >>> _ = model.optimizer.iterations.assign(0)
    >>> Backup(backup.directory, "local").restore(model)
    96
    """

    def __init__(self, directory, kind):
        if kind not in KINDS:
            raise ValueError(f"unknown kind of backup {kind!r}")
        self.directory = directory
        self.kind = kind
        self._model = self._checkpoint = self._generations = None

    def restore(self, model):
        """Loads the newest readable backup into ``model`` (and its optimizer), which later
        saves back up; returns the training steps the backup had done (0: there is none).

        UsageError when the directory holds another kind's backup, or none that
        can be read.
        """
        check_kind(self.directory, self.kind)
        self._model = model
        self._checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                                               random_state=model.random_state)
        self._generations = tf.train.CheckpointManager(
            self._checkpoint, self.directory, max_to_keep=GENERATIONS, checkpoint_name=self.kind)
        if not self._generations.checkpoints:
            return 0
        for path in reversed(self._generations.checkpoints):
            try:
                self._checkpoint.restore(path).assert_existing_objects_matched()
            except (tf.errors.OpError, IndexError, ValueError, AssertionError) as error:
                # (a torn file fails the reader these ways; IndexError: "read less bytes")
                logging.warning("backup %s cannot be read (%s): trying an older one", path,
                                str(error).splitlines()[0])
                continue
            done = int(model.optimizer.iterations.numpy())
            logging.info("resuming after step %d from %s", done, path)
            return done
        raise UsageError(f"{self.directory} holds no backup that can be read: delete it to "
                         "start over")

    def save(self):
        """Writes a new generation: the model given to restore, as it is now."""
        self._generations.save()

    def remove(self):
        """Deletes the backups (once the run's outputs are written)."""
        shutil.rmtree(self.directory, ignore_errors=True)
