"""Trainer: training as in ``sg-keras train`` (sg_keras.training.train), on the train split.

Inputs: ExampleGen's and Transform's RUN_IDs. Parameters: the training settings of
sg_keras.config.TrainConfig (tokenizer, min_count and max_vocab_size come from the
Transform, and the vocabulary is the Transform's vocab.tsv, as ``sg-keras train --vocab``:
the train split is not counted again). The stage directory *is* the TrainConfig's model_dir, so it holds what
``sg-keras train`` writes (vocab.tsv, config.json, model.keras, vectors.txt, logs/,
checkpoints/) and, while training, ``backup/``: a Trainer killed mid-run is run again
into the same directory by the next pipeline run and resumes from its backup, at
the step the backup was taken.

``epochs=0`` skips training and saves the freshly initialised model (a baseline,
e.g. to check that the Evaluator refuses to bless it).
"""

import dataclasses
import json

from pipelines import orchestration
from sg_keras import config as config_lib
from sg_keras import training
from sg_keras.errors import UsageError
from sg_keras.model_dir import ModelDir

NAME = "Trainer"
# The Trainer's own settings: all but the vocabulary's, which are the Transform's.
TRAINING_SETTINGS = tuple(name for name in config_lib.SETTINGS
                          if name not in config_lib.VOCABULARY_SETTINGS)


def settings(training_settings):
    """The Trainer's and Transform's settings: ``training_settings`` (TrainConfig keyword
    arguments) with TrainConfig's defaults filled in."""
    try:
        return config_lib.TrainConfig(corpus=[], model_dir="", **training_settings).settings()
    except TypeError as error:
        raise UsageError(f"bad training settings: {error}") from None


def _save_untrained(config):
    """epochs=0: writes the model_dir of an initialised, untrained model."""
    dataclasses.replace(config, epochs=1).validate()
    training.write_untrained(config)


def run(pipeline_root, examples, transform, settings):
    settings = {name: settings[name] for name in TRAINING_SETTINGS}
    with open(transform.outputs["config"], encoding="utf-8") as f:
        transform_config = json.load(f)

    def body(directory):
        config = config_lib.TrainConfig(
            corpus=[examples.outputs["train"]], model_dir=directory,
            tokenizer=transform_config["tokenizer"], min_count=transform_config["min_count"],
            max_vocab_size=transform_config["max_vocab_size"],
            phrases=transform.outputs.get("phrases", ""), vocab=transform.outputs["vocab"],
            **settings)
        outputs = {"model_dir": directory, "model": ModelDir(directory).model_path}
        if config.epochs == 0:
            _save_untrained(config)
            outputs.update(initial_epoch=0, epochs_run=0, loss=None)
        else:
            _, _, history = training.train(config)
            epochs_run = list(history.epoch)
            outputs.update(initial_epoch=epochs_run[0] if epochs_run else config.epochs,
                           epochs_run=len(epochs_run),
                           loss=float(history.history["loss"][-1]) if epochs_run else None)
        return outputs

    if settings["epochs"] < 0:
        raise orchestration.StageError(NAME, f"--epochs must be at least 0, got "
                                             f"{settings['epochs']}")
    return orchestration.run_stage(
        pipeline_root, NAME, {"examples": examples.run_id, "transform": transform.run_id},
        settings, body, keep_partial=True)
