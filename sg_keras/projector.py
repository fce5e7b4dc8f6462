"""Embedding Projector files, for TensorBoard's projector and projector.tensorflow.org.

``write(directory, words, counts, matrix)`` puts into ``directory`` (a model_dir's
``ModelDir.projector_dir``, ``MODEL_DIR/logs/embeddings``: a TensorBoard run of its
own, where the probe words' neighbours are logged too):

* ``embedding-1.*`` and ``checkpoint``: a TF checkpoint holding the embedding matrix
  as the tensor ``embedding/.ATTRIBUTES/VARIABLE_VALUE``;
* ``metadata.tsv``: a header ``word<TAB>count``, then one row per point, in row order;
* ``projector_config.pbtxt``: the projector's config naming that tensor and
  ``metadata.tsv`` (the checkpoint is found through the run's ``checkpoint`` file,
  with relative paths, so a model_dir can be moved or copied);
* ``vectors.tsv``: the same matrix as plain tab-separated values, which
  projector.tensorflow.org loads together with ``metadata.tsv``;
* an event file with a text summary ``projector`` saying what was written
  (TensorBoard lists a directory as a run only if it holds event files).

Only the ``top`` most frequent words are written, by default all of them up to
``MAX_POINTS``: TensorBoard's projector loads at most 100,000 rows of a tensor.
"""

import os
import tempfile

import tensorflow as tf
from absl import logging
from tensorboard.plugins import projector
from tensorboard.plugins.projector import metadata as projector_metadata

from sg_keras import vectors

MAX_POINTS = 100_000  # the rows TensorBoard's projector frontend requests of a tensor
CHECKPOINT_NAME = "embedding"
TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
METADATA_FILE = vectors.PROJECTOR_METADATA
VECTORS_FILE = vectors.PROJECTOR_VECTORS
CONFIG_FILE = projector_metadata.PROJECTOR_FILENAME


def write(directory, words, counts, matrix, top=None):
    """Writes the projector files for the ``top`` most frequent words; returns how many.

    ``words`` (by descending count), ``counts`` and the rows of ``matrix`` [V, d]
    correspond; ``matrix`` is an array or a tensor (a tensor, such as a read of
    the model's variable, is checkpointed without a copy). ``top`` defaults to all
    words, at most ``MAX_POINTS``. Each file is replaced atomically, the config
    after the files it names.
    """
    points = min(len(words), top or MAX_POINTS)
    if points < len(words):
        logging.info("projector: the %d most frequent of %d words", points, len(words))
        matrix = matrix[:points]
    matrix = tf.convert_to_tensor(matrix, tf.float32)
    os.makedirs(directory, exist_ok=True)
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(matrix, name=CHECKPOINT_NAME))
    checkpoint.save(os.path.join(directory, CHECKPOINT_NAME))
    vectors.save_projector_tsv(directory, words[:points], matrix, counts[:points])

    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.metadata_path = METADATA_FILE
    with tempfile.TemporaryDirectory(dir=directory, prefix=".tmp-") as staging:
        projector.visualize_embeddings(staging, config)
        os.replace(os.path.join(staging, CONFIG_FILE), os.path.join(directory, CONFIG_FILE))
    writer = tf.summary.create_file_writer(directory)
    with writer.as_default():
        tf.summary.text("projector", f"{points} of {len(words)} words, {matrix.shape[1]} "
                        f"dimensions: tensor `{TENSOR_NAME}`, `{METADATA_FILE}`, "
                        f"`{VECTORS_FILE}`", step=0)
    writer.close()
    return points
