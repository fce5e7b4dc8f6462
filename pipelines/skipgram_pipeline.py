"""The skip-gram pipeline: ExampleGen → StatisticsGen → Transform → Trainer → Evaluator → Pusher.

``python -m pipelines.skipgram_pipeline --corpus=PATH[,…] --pipeline_root=DIR
--serving_model_dir=saved_models/NAME [training flags] [--eval_analogies=…
--eval_similarity=… --min_analogy_accuracy=… --min_spearman=… --max_eval_loss=…
--tolerance=…]``

Every stage runs under pipeline_root/STAGE/RUN_ID/ with a metadata.json and is cached
(pipelines.orchestration); an unchanged re-run reuses every stage's outputs. A user
mistake prints one line ``error: STAGE: …`` and exits with status 2; the checks that
need no data (corpus files, thresholds, evaluation files, serving_model_dir) run
before any stage.
"""

import dataclasses
import sys

from absl import app, flags, logging

from pipelines import (evaluator, example_gen, orchestration, pusher, statistics_gen, trainer,
                       transform)
from sg_keras.errors import UsageError, parse_flags_or_exit

FLAGS = flags.FLAGS
flags.DEFINE_list("corpus", [], "corpus files (plain text or gzip), comma-separated")
flags.DEFINE_string("pipeline_root", None, "directory of the stages' artifacts")
flags.DEFINE_string("serving_model_dir", None, "TF Serving model base path (saved_models/NAME)")
flags.DEFINE_integer("eval_percent", 10, "percentage of lines (by hash) in the eval split")
flags.DEFINE_string("tokenizer", "unicode", "unicode or whitespace")
flags.DEFINE_integer("min_count", 5, "minimum count of a vocabulary word")
flags.DEFINE_integer("max_vocab_size", 0, "keep at most this many words (0: all)")
flags.DEFINE_integer("dim", 100, "size of the word vectors")
flags.DEFINE_integer("window", 5, "maximum distance of a context word")
flags.DEFINE_integer("negative", 5, "negative samples per pair (--loss=negative)")
flags.DEFINE_integer("num_sampled", 64, "noise words per batch")
flags.DEFINE_float("sample", 1e-3, "subsampling threshold (0: off)")
flags.DEFINE_boolean("shrink_window", True, "draw each centre word's window from 1..window")
flags.DEFINE_integer("epochs", 5, "training epochs (0: save the untrained model)")
flags.DEFINE_integer("batch_size", 4096, "pairs per batch")
flags.DEFINE_string("loss", "negative", "negative, sampled or softmax")
flags.DEFINE_float("learning_rate", 0.025, "initial learning rate")
flags.DEFINE_integer("seed", 1, "random seed")
flags.DEFINE_integer("steps_per_execution", 32, "steps per tf.function call")
flags.DEFINE_list("eval_analogies", [], "analogy files for the Evaluator")
flags.DEFINE_list("eval_similarity", [], "word-pair similarity files for the Evaluator")
flags.DEFINE_string("min_analogy_accuracy", "", "blessing: minimum accuracy on each analogy file")
flags.DEFINE_string("min_spearman", "", "blessing: minimum Spearman on each similarity file")
flags.DEFINE_string("max_eval_loss", "", "blessing: maximum held-out loss on the eval split")
flags.DEFINE_string("tolerance", "0.01",
                    "blessing: how much worse than the pushed version a figure may be")

STAGES = ("ExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator", "Pusher")


@dataclasses.dataclass
class PipelineConfig:
    corpus: list
    pipeline_root: str
    serving_model_dir: str
    eval_percent: int = 10
    tokenizer: str = "unicode"
    min_count: int = 5
    max_vocab_size: int = 0
    dim: int = 100
    window: int = 5
    negative: int = 5
    num_sampled: int = 64
    sample: float = 1e-3
    shrink_window: bool = True
    epochs: int = 5
    batch_size: int = 4096
    loss: str = "negative"
    learning_rate: float = 0.025
    seed: int = 1
    steps_per_execution: int = 32
    eval_analogies: list = dataclasses.field(default_factory=list)
    eval_similarity: list = dataclasses.field(default_factory=list)
    min_analogy_accuracy: str = ""
    min_spearman: str = ""
    max_eval_loss: str = ""
    tolerance: str = "0.01"


def run_pipeline(config):
    """Runs (or reuses) every stage; returns {stage name: StageResult}."""
    if not config.pipeline_root:
        raise UsageError("--pipeline_root is required")
    example_gen.check(config.corpus, config.eval_percent)
    thresholds = evaluator.parse_thresholds(dataclasses.asdict(config))
    pusher.check(config.serving_model_dir)
    settings = dataclasses.asdict(config)
    root = config.pipeline_root
    results = {}
    results["ExampleGen"] = examples = example_gen.run(root, config.corpus, config.eval_percent)
    results["StatisticsGen"] = statistics_gen.run(root, examples, config.tokenizer,
                                                  config.min_count)
    results["Transform"] = transformed = transform.run(
        root, examples, config.tokenizer, config.min_count, config.max_vocab_size)
    results["Trainer"] = trained = trainer.run(root, examples, transformed, settings)
    results["Evaluator"] = evaluated = evaluator.run(
        root, examples, trained, config.eval_analogies, config.eval_similarity, thresholds,
        config.serving_model_dir)
    results["Pusher"] = pusher.run(root, trained, evaluated, config.serving_model_dir)
    return results


def config_from_flags():
    names = [f.name for f in dataclasses.fields(PipelineConfig)]
    return PipelineConfig(**{name: FLAGS[name].value for name in names})


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
    for name in STAGES:
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
    app.run(main, flags_parser=parse_flags_or_exit)


if __name__ == "__main__":
    run()
