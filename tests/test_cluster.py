"""The cluster a task belongs to: TF_CONFIG parsed and checked against the strategy
(sg_keras.cluster), in this process and as the command line refuses it."""

import json
import os
import subprocess
import sys

import pytest

from conftest import assert_usage_error, planted_corpus
from sg_keras import cluster
from sg_keras.errors import UsageError

CLUSTER = {"chief": ["127.0.0.1:2000"], "worker": ["127.0.0.1:2001", "127.0.0.1:2002"],
           "ps": ["127.0.0.1:2003", "127.0.0.1:2004"]}
WORKERS = {"chief": CLUSTER["chief"], "worker": CLUSTER["worker"]}


def tf_config(jobs, task_type="chief", index=0):
    return json.dumps({"cluster": jobs, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize("value, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), '"cluster"'),
    (tf_config({"worker": "127.0.0.1:2001"}, "worker"), "must list"),
    (tf_config({"worker": ["127.0.0.1"]}, "worker"), "not host:port"),
    (tf_config({"worker": ["127.0.0.1:99999"]}, "worker"), "not host:port"),
    (tf_config({"worker": ["127.0.0.1:2001", "127.0.0.1:2001"]}, "worker"), "more than one"),
    (tf_config({"evaluator": ["127.0.0.1:2001"]}, "evaluator"), "unsupported job"),
    (json.dumps({"cluster": WORKERS}), '"task"'),
    (tf_config(WORKERS, "ps"), "not a job of the cluster"),
    (tf_config(WORKERS, "worker", 2), "out of range"),
])
def test_malformed_tf_config_is_a_usage_error(value, message):
    with pytest.raises(UsageError, match=message):
        cluster.parse_tf_config(value)


def test_an_unset_tf_config_is_no_cluster():
    assert cluster.parse_tf_config(None) is None
    assert cluster.parse_tf_config("  ") is None


@pytest.mark.parametrize("strategy, jobs, message", [
    ("bogus", None, "unknown strategy 'bogus'"),
    ("default", CLUSTER, "trains in one process"),
    ("mirrored", WORKERS, "trains in one process"),
    ("multi_worker", None, "needs the cluster in the TF_CONFIG"),
    ("multi_worker", CLUSTER, "ps tasks are for --strategy=parameter_server"),
    ("multi_worker", {"chief": ["127.0.0.1:2000", "127.0.0.1:2005"]}, "2 chief tasks"),
    ("parameter_server", None, "needs the cluster in the TF_CONFIG"),
    ("parameter_server", WORKERS, "has no ps task"),
    ("parameter_server", {"worker": CLUSTER["worker"], "ps": CLUSTER["ps"]}, "has no chief"),
])
def test_a_cluster_that_does_not_suit_the_strategy_is_refused(strategy, jobs, message):
    spec = cluster.parse_tf_config(tf_config(jobs, next(iter(jobs)))) if jobs else None
    with pytest.raises(UsageError, match=message):
        cluster.check_cluster(strategy, spec)


def test_clusters_that_suit_their_strategy_and_their_chief():
    alone = cluster.parse_tf_config(tf_config({"worker": ["127.0.0.1:2001"]}, "worker"))
    for strategy in cluster.ONE_PROCESS_STRATEGIES:
        cluster.check_cluster(strategy, None)
        cluster.check_cluster(strategy, alone)
    cluster.check_cluster("multi_worker", alone)
    workers_only = {"worker": CLUSTER["worker"]}
    for task_type, index, chief in [("worker", 0, True), ("worker", 1, False)]:
        spec = cluster.parse_tf_config(tf_config(workers_only, task_type, index))
        cluster.check_cluster("multi_worker", spec)
        assert spec.is_chief == chief  # worker 0 is the chief of a cluster without one
    for task_type, index, chief in [("chief", 0, True), ("worker", 0, False), ("ps", 1, False)]:
        spec = cluster.parse_tf_config(tf_config(CLUSTER, task_type, index))
        cluster.check_cluster("parameter_server", spec)
        assert spec.is_chief == chief and spec.size == 5
        assert (spec.task_type, spec.task_index) == (task_type, index)
        assert spec.jobs == CLUSTER


@pytest.mark.parametrize("strategy, value, message", [
    ("bogus", None, "unknown strategy 'bogus'"),
    ("multi_worker", "{not json", "TF_CONFIG is not valid JSON"),
    ("multi_worker", tf_config(CLUSTER), "ps tasks are for --strategy=parameter_server"),
    ("default", tf_config(CLUSTER), "--strategy=default trains in one process"),
])
def test_bad_strategy_or_cluster_fails_before_training(tmp_path, strategy, value, message):
    planted_corpus(tmp_path / "corpus.txt", sentences=100)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    if value is not None:
        env["TF_CONFIG"] = value
    result = subprocess.run(
        [sys.executable, "-m", "sg_keras.cli", "train", f"--corpus={tmp_path / 'corpus.txt'}",
         f"--model_dir={tmp_path / 'm'}", f"--strategy={strategy}"],
        capture_output=True, text=True, env=env, timeout=300)
    assert_usage_error(result, message)
    assert not (tmp_path / "m").exists()
