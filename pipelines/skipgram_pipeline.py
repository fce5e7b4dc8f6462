"""The skip-gram pipeline: ExampleGen → StatisticsGen → [PhraseGen] → Transform → Trainer →
Evaluator → Pusher.

``python -m pipelines.skipgram_pipeline --corpus=PATH[,…] --pipeline_root=DIR
--serving_model_dir=saved_models/NAME [training flags] [--phrase_threshold=200,100]
[--eval_analogies=…
--eval_similarity=… --min_analogy_accuracy=… --min_spearman=… --max_eval_loss=…
--tolerance=…] [--warm_start]``

``--warm_start`` (TFX's warm-starting): the Trainer continues the model of the newest
version in serving_model_dir (``sg-keras train --init_from`` its Trainer's model_dir, the
Transform's vocab.tsv giving the new words) and the Pusher pushes the next version; with
nothing pushed yet, the Trainer starts afresh.

Every stage runs under pipeline_root/STAGE/RUN_ID/ with a metadata.json and is cached
(pipelines.orchestration); an unchanged re-run reuses every stage's outputs. A user
mistake prints one line ``error: STAGE: …`` and exits with status 2; the checks that
need no data (corpus files, thresholds, evaluation files, serving_model_dir) run
before any stage.
"""

import dataclasses
import sys

from absl import app, flags, logging

from pipelines import (evaluator, example_gen, orchestration, phrase_gen, pusher,
                       statistics_gen, trainer, transform)
from sg_keras import objectives, process, training_flags
from sg_keras.errors import UsageError, flags_parser

FLAGS = flags.FLAGS
flags.DEFINE_list("corpus", [], "corpus files (plain text or gzip), comma-separated")
flags.DEFINE_string("pipeline_root", None, "directory of the stages' artifacts")
flags.DEFINE_string("serving_model_dir", None, "TF Serving model base path (saved_models/NAME)")
flags.DEFINE_integer("eval_percent", 10, "percentage of lines (by hash) in the eval split")
flags.DEFINE_list("phrase_threshold", [], "PhraseGen: word2phrase's threshold of each pass "
                  "(e.g. 200,100); none: no PhraseGen, no phrases")
flags.DEFINE_list("eval_analogies", [], "analogy files for the Evaluator")
flags.DEFINE_list("eval_similarity", [], "word-pair similarity files for the Evaluator")
flags.DEFINE_string("min_analogy_accuracy", "", "blessing: minimum accuracy on each analogy file")
flags.DEFINE_string("min_spearman", "", "blessing: minimum Spearman on each similarity file")
flags.DEFINE_string("max_eval_loss", "", "blessing: maximum held-out loss on the eval split")
flags.DEFINE_string("tolerance", "0.01",
                    "blessing: how much worse than the pushed version a figure may be")
flags.DEFINE_boolean("warm_start", False, "Trainer: continue the model of the newest pushed "
                     "version (`sg-keras train --init_from`) rather than start afresh")

STAGES = ("ExampleGen", "StatisticsGen", "PhraseGen", "Transform", "Trainer", "Evaluator",
          "Pusher")  # PhraseGen only with phrase thresholds


@dataclasses.dataclass
class PipelineConfig:
    """A pipeline run: its inputs and outputs, the training settings and the blessing."""

    corpus: list
    pipeline_root: str
    serving_model_dir: str
    training: dict = dataclasses.field(default_factory=dict)  # TrainConfig keyword arguments
    eval_percent: int = 10
    phrase_threshold: list = dataclasses.field(default_factory=list)  # one per pass
    eval_analogies: list = dataclasses.field(default_factory=list)
    eval_similarity: list = dataclasses.field(default_factory=list)
    min_analogy_accuracy: str = ""
    min_spearman: str = ""
    max_eval_loss: str = ""
    tolerance: str = "0.01"
    warm_start: bool = False  # the Trainer continues the newest pushed version's model


def run_pipeline(config):
    """Runs (or reuses) every stage; returns {stage name: StageResult}."""
    if not config.pipeline_root:
        raise UsageError("--pipeline_root is required")
    example_gen.check(config.corpus, config.eval_percent)
    blessing = evaluator.parse_thresholds(dataclasses.asdict(config))
    pusher.check(config.serving_model_dir)
    training = dict(config.training)
    if config.warm_start:
        training["init_from"] = pusher.pushed_model_dir(config.serving_model_dir)
    settings = trainer.settings(training)
    thresholds = _numbers(config.phrase_threshold, "--phrase_threshold")
    phrase_gen.check(thresholds, settings["min_count"])
    # As sg-keras train, before ExampleGen starts TensorFlow's runtime.
    process.limit_op_threads(settings["loss"] in objectives.SPARSE_LOSSES)
    root = config.pipeline_root
    results = {}
    results["ExampleGen"] = examples = example_gen.run(root, config.corpus, config.eval_percent)
    results["StatisticsGen"] = statistics_gen.run(root, examples, settings["tokenizer"],
                                                  settings["min_count"])
    phrases = None
    if thresholds:
        results["PhraseGen"] = phrases = phrase_gen.run(
            root, examples, settings["tokenizer"], settings["min_count"], thresholds)
    results["Transform"] = transformed = transform.run(
        root, examples, settings["tokenizer"], settings["min_count"], settings["max_vocab_size"],
        phrases)
    results["Trainer"] = trained = trainer.run(root, examples, transformed, settings)
    results["Evaluator"] = evaluated = evaluator.run(
        root, examples, trained, config.eval_analogies, config.eval_similarity, blessing,
        config.serving_model_dir)
    results["Pusher"] = pusher.run(root, trained, evaluated, config.serving_model_dir)
    return results


def _numbers(values, flag):
    try:
        return [float(value) for value in values]
    except ValueError:
        raise UsageError(f"{flag} takes numbers, got {','.join(values)}") from None


def config_from_flags():
    names = [f.name for f in dataclasses.fields(PipelineConfig) if f.name != "training"]
    return PipelineConfig(training=training_flags.settings(),
                          **{name: FLAGS[name].value for name in names})


def main(argv):
    if len(argv) > 1:
        print(f"error: unexpected arguments: {' '.join(argv[1:])}", file=sys.stderr)
        return 2
    try:
        results = run_pipeline(config_from_flags())
    except UsageError as error:
        message = str(error) if isinstance(error, orchestration.StageError) else \
            f"pipeline: {error}"
        print(f"error: {message}", file=sys.stderr)
        return 2
    for name in (name for name in STAGES if name in results):
        result = results[name]
        state = "cached" if result.cached else "ran"
        print(f"{name:<14} {state:<7} {result.directory}")
    pushed = results["Pusher"].outputs
    blessed = results["Evaluator"].outputs["blessed"]
    if pushed["pushed"] and results["Pusher"].cached:
        print(f"nothing new pushed (version {pushed['version']} was pushed by an earlier run)")
    elif pushed["pushed"]:
        print(f"pushed version {pushed['version']}: {pushed['path']}")
    else:
        print(f"not pushed ({pushed['reason']}); blessed: {blessed}")
    return 0


def run():
    logging.set_verbosity(logging.WARNING)
    app.run(main, flags_parser=flags_parser(__doc__, [__name__, training_flags.__name__]))


if __name__ == "__main__":
    run()
