"""ExampleGen: ingests the corpus and splits its lines into train and eval by hash.

Inputs: corpus files (sha256 fingerprints). Parameters: eval_percent.
Outputs: ``train.txt``, ``eval.txt`` (UTF-8, one sentence a line; invalid UTF-8
replaced by U+FFFD, long lines cut into sentences as the trainer cuts them
(sg_keras.corpus), blank lines dropped) and ``examples.json`` with the counts.
A line goes to eval when ``crc32(line) % 100 < eval_percent``: the split depends
on the line only, not on its position or on the other lines.
"""

import os
import zlib

from pipelines import orchestration
from sg_keras import corpus as corpus_lib
from sg_keras.errors import UsageError

NAME = "ExampleGen"
TRAIN_FILE = "train.txt"
EVAL_FILE = "eval.txt"


def is_eval(line, eval_percent):
    return zlib.crc32(line.encode("utf-8")) % 100 < eval_percent


def check(corpus, eval_percent):
    if not 0 < eval_percent < 100:
        raise orchestration.StageError(
            NAME, f"--eval_percent must be between 1 and 99, got {eval_percent}")
    try:
        corpus_lib.check_corpus_files(corpus)
    except UsageError as error:
        raise orchestration.StageError(NAME, str(error)) from None


def run(pipeline_root, corpus, eval_percent):
    check(corpus, eval_percent)
    corpus = [os.path.abspath(path) for path in corpus]
    inputs = {"corpus": {path: orchestration.file_fingerprint(path) for path in corpus}}

    def body(directory):
        lines = {"train": 0, "eval": 0}
        source = corpus_lib.Corpus(corpus)
        paths = {"train": os.path.join(directory, TRAIN_FILE),
                 "eval": os.path.join(directory, EVAL_FILE)}
        files = {split: open(path + ".partial", "w", encoding="utf-8")
                 for split, path in paths.items()}
        try:
            for block in source.sentence_blocks():
                for line in block:
                    line = line.rstrip("\r")
                    if not line.strip():
                        continue
                    split = "eval" if is_eval(line, eval_percent) else "train"
                    files[split].write(line + "\n")
                    lines[split] += 1
        finally:
            for f in files.values():
                f.close()
        if lines["eval"] == 0:
            raise orchestration.StageError(
                NAME, f"the eval split is empty ({lines['train']} lines, none hashed into "
                      f"the {eval_percent}% eval split): use a larger corpus or --eval_percent")
        if lines["train"] == 0:
            raise orchestration.StageError(NAME, "the train split is empty")
        for path in paths.values():
            os.replace(path + ".partial", path)
        return {"train": paths["train"], "eval": paths["eval"],
                "train_lines": lines["train"], "eval_lines": lines["eval"],
                "invalid_utf8": source.invalid_utf8}

    return orchestration.run_stage(pipeline_root, NAME, inputs,
                                   {"eval_percent": eval_percent}, body)
