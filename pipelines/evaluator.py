"""Evaluator: figures of the trained model and the blessing.

Inputs: the Trainer's and ExampleGen's RUN_IDs, the evaluation files (sha256) and the
evaluation record of the currently pushed version (the baseline; sha256 of its record).
Parameters: the thresholds.
Figures: per analogy file the overall accuracy (3CosAdd), per similarity file the
Spearman correlation (sg_keras.evaluation), and ``eval_loss``: the mean per-pair
loss, under the model's own objective, of the pairs of the eval split (full window,
no subsampling, the train vocabulary; OOV words dropped).
Blessed when every figure meets its absolute threshold (``--min_analogy_accuracy``,
``--min_spearman``, ``--max_eval_loss``; empty = no threshold) and none is worse
than the baseline's same figure by more than ``--tolerance`` (absolute; the loss is
compared only when the baseline was measured on the same eval split). A baseline
that is this very model (same Trainer RUN_ID, i.e. a re-run) is no baseline.
Outputs: ``evaluation.json`` and a ``BLESSED`` or ``NOT_BLESSED`` marker file.
"""

import math
import os

import tensorflow as tf

from pipelines import orchestration, pusher
from sg_keras import evaluation, pairs
from sg_keras.corpus import Corpus
from sg_keras.model_dir import ModelDir
from sg_keras.word_vectors import WordVectors

NAME = "Evaluator"
EVALUATION_FILE = "evaluation.json"
THRESHOLDS = ("min_analogy_accuracy", "min_spearman", "max_eval_loss", "tolerance")


def parse_thresholds(values):
    """{name: float or None} from flag strings; StageError on anything unparsable."""
    parsed = {}
    for name in THRESHOLDS:
        value = values.get(name)
        if value is None or str(value).strip() == "":
            parsed[name] = None
            continue
        try:
            parsed[name] = float(value)
        except ValueError:
            raise orchestration.StageError(
                NAME, f"--{name} must be a number, got {value!r}") from None
        if math.isnan(parsed[name]):
            raise orchestration.StageError(NAME, f"--{name} must be a number, got {value!r}")
    if parsed["tolerance"] is None:
        parsed["tolerance"] = 0.0
    if parsed["tolerance"] < 0:
        raise orchestration.StageError(NAME, f"--tolerance must be at least 0, got "
                                             f"{parsed['tolerance']}")
    return parsed


def eval_loss(model, vocab, settings, eval_path, batch_size=4096):
    """Mean per-pair loss of the model on the pairs of eval_path."""
    generator = pairs.PairGenerator(vocab, settings["window"], 0.0, False, settings["tokenizer"])
    dataset = generator.dataset(Corpus([eval_path]), batch_size, settings["seed"])
    step = tf.function(lambda centre, context: tf.reduce_sum(model.pair_losses(centre, context)))
    total, count = 0.0, 0
    for centre, context in dataset:
        if tf.size(centre) == 0:
            continue
        total += float(step(centre, context))
        count += int(tf.size(centre))
    return total / count if count else float("nan")


def _checks(figures, thresholds, baseline, same_eval_split):
    checks = []

    def add(name, value, limit, passed):
        checks.append({"check": name, "value": value, "limit": limit, "passed": bool(passed)})

    tolerance = thresholds["tolerance"]
    for kind, minimum in (("analogy", "min_analogy_accuracy"), ("similarity", "min_spearman")):
        for path, value in figures[kind].items():
            if thresholds[minimum] is not None:
                add(f"{kind} {path} >= {minimum}", value, thresholds[minimum],
                    not math.isnan(value) and value >= thresholds[minimum])
            base = (baseline or {}).get(kind, {}).get(path)
            if base is not None and not math.isnan(base):
                add(f"{kind} {path} >= baseline - tolerance", value, base - tolerance,
                    not math.isnan(value) and value >= base - tolerance)
    loss = figures["eval_loss"]
    if thresholds["max_eval_loss"] is not None:
        add("eval_loss <= max_eval_loss", loss, thresholds["max_eval_loss"],
            loss <= thresholds["max_eval_loss"])
    base = (baseline or {}).get("eval_loss")
    if same_eval_split and base is not None and not math.isnan(base):
        add("eval_loss <= baseline + tolerance", loss, base + tolerance, loss <= base + tolerance)
    return checks


def run(pipeline_root, examples, trainer, analogies, similarity, thresholds,
        serving_model_dir):
    analogies = [os.path.abspath(p) for p in analogies]
    similarity = [os.path.abspath(p) for p in similarity]
    for path in analogies + similarity:
        if not os.path.isfile(path):
            raise orchestration.StageError(NAME, f"evaluation file not found: {path}")
    version, record = pusher.latest_pushed(os.path.abspath(serving_model_dir))
    if record and record.get("model", {}).get("trainer_run_id") == trainer.run_id:
        version, record = None, None  # this model itself: no baseline
    baseline_path = pusher.record_path(os.path.abspath(serving_model_dir), version)
    inputs = {"examples": examples.run_id, "trainer": trainer.run_id,
              "analogies": {p: orchestration.file_fingerprint(p) for p in analogies},
              "similarity": {p: orchestration.file_fingerprint(p) for p in similarity},
              "baseline": orchestration.file_fingerprint(baseline_path) if record else None}
    eval_split = orchestration.file_fingerprint(examples.outputs["eval"])

    def body(directory):
        trained = ModelDir(trainer.outputs["model_dir"]).load()
        model, vocab, settings = trained.model, trained.vocab, trained.settings
        details = evaluation.evaluate(WordVectors(vocab.words, model.word_vectors()),
                                      analogies, similarity)
        figures = {"analogy": {p: r["accuracy"] for p, r in details["analogy"].items()},
                   "similarity": {p: r["spearman"] for p, r in details["similarity"].items()},
                   "eval_loss": eval_loss(model, vocab, settings, examples.outputs["eval"])}
        baseline = record["figures"] if record else None
        same_split = bool(record) and record.get("eval_split") == eval_split
        checks = _checks(figures, thresholds, baseline, same_split)
        blessed = all(c["passed"] for c in checks)
        path = os.path.join(directory, EVALUATION_FILE)
        orchestration.write_json(path, {
            "blessed": blessed, "figures": figures, "details": details, "checks": checks,
            "thresholds": thresholds, "eval_split": eval_split,
            "baseline": {"version": version, "figures": baseline} if record else None,
            "model": {"trainer_run_id": trainer.run_id, "model_dir": trainer.outputs["model_dir"],
                      "settings": settings}})
        marker = os.path.join(directory, "BLESSED" if blessed else "NOT_BLESSED")
        open(marker, "w").close()
        return {"evaluation": path, "blessed": blessed, "figures": figures,
                "baseline_version": version if record else None}

    return orchestration.run_stage(pipeline_root, NAME, inputs, thresholds, body)
