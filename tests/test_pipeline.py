"""The TFX-style pipeline (pipelines/): push, caching, blessing gate, resumption, bad input."""

import dataclasses
import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, planted_corpus
from pipelines import example_gen, orchestration
from pipelines import skipgram_pipeline
from pipelines.skipgram_pipeline import PipelineConfig, run_pipeline
from sg_keras.vocab import Vocabulary
from test_phrases import collocation_corpus

# The stages of a pipeline without phrases (no --phrase_threshold: no PhraseGen).
STAGES = [name for name in skipgram_pipeline.STAGES if name != "PhraseGen"]

TINY = dict(tokenizer="whitespace", min_count=1, dim=16, window=3, sample=0.0, epochs=2,
            batch_size=256, num_sampled=16, steps_per_execution=8)


@pytest.fixture
def setup(tmp_path):
    corpus = tmp_path / "corpus.txt"
    planted_corpus(corpus, sentences=1000)
    analogies = tmp_path / "analogies.txt"
    analogies.write_text(": topics\ncat0 cat1 sea0 sea1\ncar2 car3 sky2 sky3\n")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("cat0\tcat1\t9\ncat0\tsea1\t1\ncar0\tcar5\t8\nsky1\tcar1\t2\n"
                     "sea2\tsea3\t9\ncat3\tsky4\t1\n")
    return PipelineConfig(corpus=[str(corpus)], pipeline_root=str(tmp_path / "root"),
                          serving_model_dir=str(tmp_path / "saved_models" / "planted"),
                          eval_analogies=[str(analogies)], eval_similarity=[str(pairs)],
                          min_spearman="0.5", tolerance="0.3", training=TINY)


def metadata(result):
    return orchestration.read_json(os.path.join(result.directory, orchestration.METADATA_FILE))


def versions(serving_model_dir):
    if not os.path.isdir(serving_model_dir):
        return []
    return sorted(n for n in os.listdir(serving_model_dir) if n.isdigit())


def test_push_then_cached_rerun_then_worse_model_is_not_pushed(setup):
    config = setup
    first = run_pipeline(config)
    assert [name for name in STAGES if first[name].cached] == []
    for name in STAGES:
        meta = metadata(first[name])
        assert meta["status"] == "complete" and meta["stage"] == name
        assert first[name].directory == os.path.join(config.pipeline_root, name, meta["run_id"])
        assert {"inputs", "parameters", "outputs", "started", "finished", "seconds"} <= set(meta)
    assert metadata(first["ExampleGen"])["inputs"]["corpus"][config.corpus[0]].startswith("sha256:")
    assert metadata(first["Trainer"])["inputs"] == {
        "examples": first["ExampleGen"].run_id, "transform": first["Transform"].run_id}

    # ExampleGen: a deterministic split by line hash.
    outputs = first["ExampleGen"].outputs
    with open(outputs["train"]) as f:
        train = f.read().splitlines()
    with open(outputs["eval"]) as f:
        held_out = f.read().splitlines()
    assert len(train) + len(held_out) == 1000 and 0 < len(held_out) < 200
    assert all(example_gen.is_eval(line, 10) for line in held_out)
    assert not any(example_gen.is_eval(line, 10) for line in train)

    # StatisticsGen: JSON and a TensorBoard text summary.
    statistics = orchestration.read_json(first["StatisticsGen"].outputs["statistics"])
    assert statistics["train"]["lines"] == len(train) and statistics["eval"]["lines"] == len(held_out)
    assert statistics["train"]["tokens"] == 12 * len(train) and statistics["train"]["types"] == 36
    assert statistics["train"]["tokens_per_line"]["p50"] == 12
    assert statistics["eval_oov_rate"] == 0.0 and statistics["invalid_utf8"] == 0
    assert glob.glob(os.path.join(first["StatisticsGen"].outputs["logs"], "events.out.tfevents.*"))

    # The Trainer trained on the Transform's vocabulary.
    transformed = Vocabulary.load(first["Transform"].outputs["vocab"])
    trained = Vocabulary.load(os.path.join(first["Trainer"].outputs["model_dir"], "vocab.tsv"))
    assert transformed.words == trained.words and list(transformed.counts) == list(trained.counts)

    # Evaluator blessed, Pusher pushed version 1 with its record beside it.
    assert first["Evaluator"].outputs["blessed"]
    assert os.path.exists(os.path.join(first["Evaluator"].directory, "BLESSED"))
    assert first["Pusher"].outputs["pushed"] and first["Pusher"].outputs["version"] == 1
    serving = config.serving_model_dir
    assert versions(serving) == ["1"]
    assert os.path.exists(os.path.join(serving, "1", "saved_model.pb"))
    record = orchestration.read_json(os.path.join(serving, "1.evaluation.json"))
    assert record["blessed"] and record["version"] == 1
    assert record["model"]["trainer_run_id"] == first["Trainer"].run_id
    assert record["figures"]["eval_loss"] > 0

    # An unchanged re-run reuses every stage: no training, no new version.
    trainer_meta = os.path.join(first["Trainer"].directory, orchestration.METADATA_FILE)
    stamp = os.stat(trainer_meta).st_mtime_ns
    second = run_pipeline(config)
    assert all(second[name].cached for name in STAGES)
    assert {n: r.run_id for n, r in second.items()} == {n: r.run_id for n, r in first.items()}
    assert os.stat(trainer_meta).st_mtime_ns == stamp
    assert versions(serving) == ["1"]

    # A clearly worse model (dim 2, untrained) is not blessed and not pushed.
    worse = run_pipeline(dataclasses.replace(config, training={**TINY, "dim": 2, "epochs": 0}))
    assert worse["ExampleGen"].cached and worse["Transform"].cached
    assert not worse["Trainer"].cached
    evaluation = orchestration.read_json(worse["Evaluator"].outputs["evaluation"])
    assert not evaluation["blessed"] and evaluation["baseline"]["version"] == 1
    failed = {c["check"] for c in evaluation["checks"] if not c["passed"]}
    assert any("baseline" in check for check in failed)
    assert os.path.exists(os.path.join(worse["Evaluator"].directory, "NOT_BLESSED"))
    assert worse["Pusher"].outputs == {"pushed": False, "reason": "not blessed"}
    assert versions(serving) == ["1"]

    # Another good model is compared with version 1, blessed and pushed as version 2.
    # (the same training in other executions: the same figures, so "not worse" is certain;
    # the planted corpus's 2 analogy questions are too few to rank two seeds)
    other = run_pipeline(dataclasses.replace(config, training={**TINY, "steps_per_execution": 4}))
    assert other["Evaluator"].outputs["baseline_version"] == 1
    assert other["Pusher"].outputs["version"] == 2 and versions(serving) == ["1", "2"]


def test_a_failed_stage_keeps_earlier_outputs_and_the_rerun_resumes_there(setup, tmp_path):
    config = setup
    analogies = tmp_path / "analogies.txt"
    good = analogies.read_text()
    analogies.write_text("cat0 cat1 sea0\n")  # malformed: the Evaluator fails
    with pytest.raises(orchestration.StageError, match=r"^Evaluator: .*expected 4 words"):
        run_pipeline(config)
    for name in ("ExampleGen", "StatisticsGen", "Transform", "Trainer"):
        (directory,) = glob.glob(os.path.join(config.pipeline_root, name, "*"))
        meta = orchestration.read_json(os.path.join(directory, orchestration.METADATA_FILE))
        assert meta["status"] == "complete"
    (failed,) = glob.glob(os.path.join(config.pipeline_root, "Evaluator", "*", "metadata.json"))
    assert orchestration.read_json(failed)["status"] == "failed"
    assert not os.path.exists(config.serving_model_dir)
    analogies.write_text(good)
    rerun = run_pipeline(config)
    assert [name for name in STAGES if not rerun[name].cached] == ["Evaluator", "Pusher"]
    assert rerun["Pusher"].outputs["version"] == 1


def test_a_killed_trainer_resumes_on_rerun(tmp_path):
    corpus = tmp_path / "corpus.txt"
    planted_corpus(corpus, sentences=3000)
    config = PipelineConfig(corpus=[str(corpus)], pipeline_root=str(tmp_path / "root"),
                            serving_model_dir=str(tmp_path / "saved_models" / "planted"),
                            training={**TINY, "epochs": 12})
    settings = {**dataclasses.asdict(config), **config.training}
    del settings["training"]
    argv = [sys.executable, "-m", "pipelines.skipgram_pipeline"] + [
        f"--{name}={','.join(v) if isinstance(v, list) else v}"
        for name, v in settings.items() if not (isinstance(v, list) and not v)] + ["--verbosity=1"]
    log = open(tmp_path / "first.log", "w")
    process = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    backup = os.path.join(config.pipeline_root, "Trainer", "*", "backup", "checkpoint")
    deadline = time.monotonic() + 150
    try:
        while not glob.glob(backup):
            assert process.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the Trainer never wrote a backup"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        log.close()
    first_log = (tmp_path / "first.log").read_text()
    # The Trainer trains with one thread per op, like sg-keras train (set before ExampleGen).
    assert "TensorFlow ops run on one thread each" in first_log
    assert "runtime has started" not in first_log
    (trainer_meta,) = glob.glob(os.path.join(config.pipeline_root, "Trainer", "*", "metadata.json"))
    assert orchestration.read_json(trainer_meta)["status"] == "running"
    assert not os.path.exists(config.serving_model_dir)

    results = run_pipeline(config)
    assert [name for name in STAGES if not results[name].cached] == ["Trainer", "Evaluator", "Pusher"]
    meta = metadata(results["Trainer"])
    assert meta["status"] == "complete" and meta["attempt"] == 2
    assert results["Trainer"].outputs["initial_epoch"] >= 1  # resumed, not restarted
    assert results["Trainer"].outputs["epochs_run"] == 12 - results["Trainer"].outputs["initial_epoch"]
    assert results["Pusher"].outputs["version"] == 1
    assert versions(config.serving_model_dir) == ["1"]


def _cli(args, tmp_path):
    return subprocess.run([sys.executable, "-m", "pipelines.skipgram_pipeline", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("bad, message", [
    ({"--corpus": "{tmp}/missing.txt"}, "error: ExampleGen: corpus file not found"),
    ({"--min_spearman": "high"}, "error: Evaluator: --min_spearman must be a number, got 'high'"),
])
def test_bad_input_is_one_line_naming_the_stage_and_exit_2(setup, tmp_path, bad, message):
    config = setup
    flags = {"--corpus": config.corpus[0], "--pipeline_root": config.pipeline_root,
             "--serving_model_dir": config.serving_model_dir}
    flags.update({k: v.format(tmp=tmp_path) for k, v in bad.items()})
    result = _cli([f"{k}={v}" for k, v in flags.items()], tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [line for line in errors if line.startswith(message)] and len(errors) == 1
    assert not os.path.exists(config.serving_model_dir)
    assert not os.path.exists(config.pipeline_root)


def test_unwritable_serving_dir_fails_before_any_stage(setup, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    config = dataclasses.replace(setup, serving_model_dir=str(blocker / "planted"))
    with pytest.raises(orchestration.StageError, match=r"^Pusher: .*not writable"):
        run_pipeline(config)
    assert not os.path.exists(config.pipeline_root)


def test_empty_eval_split_fails_in_example_gen_without_push(setup, tmp_path):
    lines = [f"word{i} other{i} more{i}" for i in range(200)]
    lines = [line for line in lines if not example_gen.is_eval(line, 10)][:30]
    corpus = tmp_path / "small.txt"
    corpus.write_text("\n".join(lines) + "\n")
    config = dataclasses.replace(setup, corpus=[str(corpus)])
    with pytest.raises(orchestration.StageError, match=r"^ExampleGen: the eval split is empty"):
        run_pipeline(config)
    (meta,) = glob.glob(os.path.join(config.pipeline_root, "ExampleGen", "*", "metadata.json"))
    assert orchestration.read_json(meta)["status"] == "failed"
    assert not os.path.exists(config.serving_model_dir)


def test_phrase_gen_learns_phrases_the_transform_and_trainer_use(setup, tmp_path):
    collocation_corpus(tmp_path / "collocations.txt", sentences=1000)
    config = dataclasses.replace(setup, corpus=[str(tmp_path / "collocations.txt")],
                                 phrase_threshold=["10", "2"], min_spearman="",
                                 eval_similarity=[], eval_analogies=[])
    results = run_pipeline(config)
    assert list(results) == list(skipgram_pipeline.STAGES)
    phrases_path = results["PhraseGen"].outputs["phrases"]
    assert metadata(results["PhraseGen"])["parameters"]["thresholds"] == [10.0, 2.0]
    assert metadata(results["Transform"])["inputs"]["phrases"] == results["PhraseGen"].run_id
    with open(phrases_path, encoding="utf-8") as f:
        learnt = f.read()
    with open(os.path.join(results["Trainer"].outputs["model_dir"], "phrases.tsv"),
              encoding="utf-8") as f:
        assert f.read() == learnt
    words = Vocabulary.load(results["Transform"].outputs["vocab"]).words
    assert "new_york_times" in words and "los_angeles" in words
    assert results["Pusher"].outputs["pushed"]
    rerun = run_pipeline(config)
    assert all(result.cached for result in rerun.values())


def test_warm_start_continues_the_pushed_model_on_new_text_and_pushes_the_next_version(
        setup, tmp_path):
    config = setup
    first = run_pipeline(config)  # nothing pushed yet: --warm_start would start afresh too
    assert first["Pusher"].outputs["version"] == 1
    planted_corpus(tmp_path / "more.txt", sentences=1000, seed=5)
    with open(tmp_path / "more.txt", "a", encoding="utf-8") as f:
        f.write("kitten cat1 cat2 kitten cat3\n" * 20)  # a word the first model never saw
    second = run_pipeline(dataclasses.replace(config, corpus=[str(tmp_path / "more.txt")],
                                              warm_start=True))
    assert not second["Trainer"].cached
    model_dir = second["Trainer"].outputs["model_dir"]
    settings = orchestration.read_json(os.path.join(model_dir, "config.json"))["settings"]
    assert settings["init_from"] == first["Trainer"].outputs["model_dir"]
    old = Vocabulary.load(os.path.join(first["Trainer"].outputs["model_dir"], "vocab.tsv"))
    grown = Vocabulary.load(os.path.join(model_dir, "vocab.tsv"))
    assert grown.words == old.words + ["kitten"]
    assert second["Pusher"].outputs["pushed"] and second["Pusher"].outputs["version"] == 2
