"""StatisticsGen: statistics of the train and eval splits (TFDV's role, for text).

Inputs: ExampleGen's RUN_ID. Parameters: tokenizer, min_count.
Outputs: ``statistics.json`` — per split lines, tokens, types and the distribution
of tokens per line; the eval split's OOV rate against the train split's word types
(``eval_oov_rate``) and against the vocabulary the Transform keeps
(``eval_oov_rate_min_count``: train words seen at least min_count times); the
corpus' invalid UTF-8 count — and ``logs/`` with the same as a TensorBoard text
summary (``statistics``).
"""

import collections
import os

import numpy as np
import tensorflow as tf

from pipelines import orchestration
from sg_keras import text
from sg_keras.corpus import Corpus

NAME = "StatisticsGen"
STATISTICS_FILE = "statistics.json"


def split_statistics(path, tokenizer):
    counter = collections.Counter()
    lengths = []
    for block in Corpus([path]).sentence_blocks():
        words = text.tokenize(tf.constant(block), tokenizer)
        lengths.extend(words.row_lengths().numpy().tolist())
        counter.update(words.flat_values.numpy().tolist())
    lengths = np.array(lengths or [0])
    distribution = {"min": int(lengths.min()), "max": int(lengths.max()),
                    "mean": float(lengths.mean()),
                    **{f"p{q}": float(np.percentile(lengths, q)) for q in (10, 50, 90, 99)}}
    return counter, {"lines": len(lengths), "tokens": int(sum(counter.values())),
                     "types": len(counter), "tokens_per_line": distribution}


def _markdown(statistics):
    rows = ["| split | lines | tokens | types | tokens/line (mean, p50, p90, max) |",
            "|---|---|---|---|---|"]
    for split in ("train", "eval"):
        s = statistics[split]
        d = s["tokens_per_line"]
        rows.append(f"| {split} | {s['lines']} | {s['tokens']} | {s['types']} | "
                    f"{d['mean']:.1f}, {d['p50']:.0f}, {d['p90']:.0f}, {d['max']} |")
    rows.append("")
    rows.append(f"eval OOV rate: {statistics['eval_oov_rate']:.4f} against the train types, "
                f"{statistics['eval_oov_rate_min_count']:.4f} against the min_count vocabulary; "
                f"invalid UTF-8 sequences: {statistics['invalid_utf8']}")
    return "\n".join(rows)


def run(pipeline_root, examples, tokenizer, min_count):
    def body(directory):
        train_counts, train = split_statistics(examples.outputs["train"], tokenizer)
        eval_counts, evaluation = split_statistics(examples.outputs["eval"], tokenizer)
        eval_tokens = sum(eval_counts.values()) or 1
        oov = sum(c for w, c in eval_counts.items() if w not in train_counts)
        oov_min = sum(c for w, c in eval_counts.items() if train_counts.get(w, 0) < min_count)
        statistics = {"train": train, "eval": evaluation,
                      "eval_oov_rate": oov / eval_tokens,
                      "eval_oov_rate_min_count": oov_min / eval_tokens,
                      "invalid_utf8": examples.outputs["invalid_utf8"]}
        path = os.path.join(directory, STATISTICS_FILE)
        orchestration.write_json(path, statistics)
        logs = os.path.join(directory, "logs")
        writer = tf.summary.create_file_writer(logs)
        with writer.as_default():
            tf.summary.text("statistics", _markdown(statistics), step=0)
        writer.close()
        return {"statistics": path, "logs": logs}

    return orchestration.run_stage(pipeline_root, NAME, {"examples": examples.run_id},
                                   {"tokenizer": tokenizer, "min_count": min_count}, body)
