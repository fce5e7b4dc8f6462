"""PhraseGen: word2phrase's phrases of the train split, joined into words downstream.

Inputs: ExampleGen's RUN_ID. Parameters: tokenizer, min_count, the thresholds (one
pass each). Outputs: ``phrases.tsv`` (sg_keras.phrases, learnt from the train split
with sg_keras.phrases.learn_phrases), which the Transform counts with and the Trainer
trains with (``train --phrases``); the export then answers ``New York`` as ``new_york``.
The stage runs only when the pipeline is given ``--phrase_threshold``.
"""

import os

from pipelines import orchestration
from sg_keras import phrases, text
from sg_keras.corpus import Corpus
from sg_keras.model_dir import PHRASES_FILE

NAME = "PhraseGen"


def check(thresholds, min_count):
    """UsageError for thresholds or min_count that no pass could use (before any stage)."""
    if thresholds:
        phrases.check_settings(min_count, thresholds)


def run(pipeline_root, examples, tokenizer, min_count, thresholds):
    parameters = {"tokenizer": tokenizer, "min_count": min_count,
                  "thresholds": list(thresholds)}

    def body(directory):
        text.check_tokenizer(tokenizer)
        table = phrases.learn_phrases(Corpus([examples.outputs["train"]]), tokenizer,
                                      min_count, thresholds)
        path = os.path.join(directory, PHRASES_FILE)
        table.save(path)
        return {"phrases": path, "phrase_count": len(table)}

    return orchestration.run_stage(pipeline_root, NAME, {"examples": examples.run_id},
                                   parameters, body)
