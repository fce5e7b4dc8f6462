"""Transform: the vocabulary and tokenisation the Trainer and the serving export use.

Inputs: ExampleGen's RUN_ID (and PhraseGen's, when it ran). Parameters: tokenizer,
min_count, max_vocab_size. Outputs: ``vocab.tsv`` (sg_keras.vocab format, counted from
the train split, its phrases joined, with sg_keras.vocab.count_vocabulary) and
``transform.json`` (the tokenisation config and counts). The Trainer trains on this
vocab.tsv (``TrainConfig.vocab``) rather than counting the train split again.
"""

import os

from pipelines import orchestration
from sg_keras import text
from sg_keras.corpus import Corpus
from sg_keras.model_dir import VOCAB_FILE
from sg_keras.phrases import PhraseTable
from sg_keras.vocab import count_vocabulary

NAME = "Transform"
CONFIG_FILE = "transform.json"


def run(pipeline_root, examples, tokenizer, min_count, max_vocab_size, phrases=None):
    """``phrases``: PhraseGen's StageResult, or None."""
    parameters = {"tokenizer": tokenizer, "min_count": min_count,
                  "max_vocab_size": max_vocab_size}
    inputs = {"examples": examples.run_id}
    if phrases is not None:
        inputs["phrases"] = phrases.run_id

    def body(directory):
        text.check_tokenizer(tokenizer)
        table = PhraseTable.load(phrases.outputs["phrases"], tokenizer) if phrases else None
        vocab, counts = count_vocabulary(Corpus([examples.outputs["train"]]), tokenizer,
                                         min_count, max_vocab_size, table)
        vocab_path = os.path.join(directory, VOCAB_FILE)
        vocab.save(vocab_path)
        config_path = os.path.join(directory, CONFIG_FILE)
        orchestration.write_json(config_path, {**parameters, "vocab_size": len(vocab),
                                               "train_tokens": counts.tokens,
                                               "train_sentences": counts.sentences})
        return {"vocab": vocab_path, "config": config_path, "vocab_size": len(vocab),
                "phrases": phrases.outputs["phrases"] if phrases else ""}

    return orchestration.run_stage(pipeline_root, NAME, inputs, parameters, body)
