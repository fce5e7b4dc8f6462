"""tf.distribute: TF_CONFIG checks, the sharded reader, the cluster loop in this process,
and real clusters of local processes.

The clusters run each TensorFlow task as a separate ``sg-keras train`` process inside a
private network namespace whose only interface is loopback: TensorFlow's gRPC server
listens on every address of its namespace (``0.0.0.0`` is hard-coded in TensorFlow), so
the namespace is what keeps the cluster off the network.
"""

import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, InterruptAtEpoch, config_for, planted_corpus, topic_purity
from sg_keras import distribute, text, training
from sg_keras.errors import UsageError
from sg_keras.model import SkipGram
from sg_keras.vocab import CorpusCounts

CLUSTER = {"chief": ["127.0.0.1:2000"], "worker": ["127.0.0.1:2001", "127.0.0.1:2002"],
           "ps": ["127.0.0.1:2003", "127.0.0.1:2004"]}
WORKERS = {"chief": CLUSTER["chief"], "worker": CLUSTER["worker"]}


def tf_config(cluster, task_type="chief", index=0):
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


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
        distribute.parse_tf_config(value)


@pytest.mark.parametrize("strategy, cluster, message", [
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
def test_a_cluster_that_does_not_suit_the_strategy_is_refused(strategy, cluster, message):
    spec = distribute.parse_tf_config(tf_config(cluster, next(iter(cluster)))) if cluster else None
    with pytest.raises(UsageError, match=message):
        distribute.check_cluster(strategy, spec)


def test_clusters_that_suit_their_strategy_and_their_chief():
    alone = distribute.parse_tf_config(tf_config({"worker": ["127.0.0.1:2001"]}, "worker"))
    distribute.check_cluster("default", None)
    distribute.check_cluster("default", alone)
    distribute.check_cluster("multi_worker", alone)
    workers_only = {"worker": CLUSTER["worker"]}
    for task_type, index, chief in [("worker", 0, True), ("worker", 1, False)]:
        spec = distribute.parse_tf_config(tf_config(workers_only, task_type, index))
        distribute.check_cluster("multi_worker", spec)
        assert spec.is_chief == chief  # worker 0 is the chief of a cluster without one
    for task_type, index, chief in [("chief", 0, True), ("worker", 0, False), ("ps", 1, False)]:
        spec = distribute.parse_tf_config(tf_config(CLUSTER, task_type, index))
        distribute.check_cluster("parameter_server", spec)
        assert spec.is_chief == chief and spec.size == 5


def read_shards(paths, num_shards, sentences_per_block=3):
    """The sentences of each shard, in order, as lists of words."""
    shards = []
    for index in range(num_shards):
        blocks = distribute.ShardedCorpus([str(p) for p in paths], num_shards, index,
                                          sentences_per_block).dataset()
        shards.append([sentence.decode().split() for block in blocks.as_numpy_iterator()
                       for sentence in block])
    return shards


def test_one_file_is_sharded_by_line_without_overlap(tmp_path):
    lines = [f"w{i} x{i} y{i}" for i in range(11)]
    (tmp_path / "one.txt").write_text("\n".join(lines) + "\n")
    shards = read_shards([tmp_path / "one.txt"], 3)
    assert shards == [[line.split() for line in lines[i::3]] for i in range(3)]


def test_several_files_are_sharded_by_file(tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"part{i}.txt"
        path.write_text(f"file{i} a\nfile{i} b\n")
        paths.append(path)
    with gzip.open(tmp_path / "part1.txt.gz", "wt") as f:  # gzip is recognised by content
        f.write("file1 a\nfile1 b\n")
    paths[1] = tmp_path / "part1.txt.gz"
    shards = read_shards(paths, 2)
    assert shards == [[["file0", "a"], ["file0", "b"], ["file2", "a"], ["file2", "b"]],
                      [["file1", "a"], ["file1", "b"]]]


def test_a_long_line_is_cut_into_sentences(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "MAX_SENTENCE_CHARS", 20)
    monkeypatch.setattr(distribute, "MAX_SENTENCE_WORDS", 4)
    words = [f"word{i}" for i in range(10)]
    (tmp_path / "long.txt").write_text(" ".join(words) + "\nshort  line\n\n")
    shard, = read_shards([tmp_path / "long.txt"], 1, sentences_per_block=100)
    assert shard == [words[:4], words[4:8], words[8:], ["short", "line"]]


def test_sentences_per_block_follow_the_corpus_sentence_length():
    counts = CorpusCounts(tokens=1_000_000, sentences=50_000, invalid_utf8=0)
    assert distribute.sentences_per_block(counts) == distribute.BLOCK_WORDS // 20


def test_noise_words_can_be_drawn_from_a_seed():
    # Asynchronous parameter-server workers draw from (step, worker): one shared seed
    # generator would give two workers the same noise words at the same time.
    model = SkipGram(50, 4, noise_counts=np.arange(50, 0, -1), num_sampled=32, seed=1)
    model.context_softmax.kernel.assign(np.random.default_rng(0).normal(size=(50, 4)))
    state = model.noise_seed.state.numpy().copy()
    pairs = tf.constant([1, 2, 3], tf.int64), tf.constant([4, 5, 6], tf.int64)

    def losses(step, worker):
        seed = tf.constant([step, worker], tf.int64)
        return model.negative_sampling(*pairs, noise_seed=seed)[0].numpy()

    np.testing.assert_array_equal(losses(7, 0), losses(7, 0))
    assert not np.array_equal(losses(7, 0), losses(7, 1))
    np.testing.assert_array_equal(model.noise_seed.state.numpy(), state)  # generator untouched


def test_mirrored_strategy_trains_with_model_fit(planted, tmp_path):
    corpus, topics = planted
    model, vocab, history = training.train(config_for(corpus, tmp_path / "m",
                                                      strategy="mirrored"))
    assert topic_purity(model, vocab, topics) >= 0.95
    assert len(history.history["loss"]) == 3


_LOCAL_STRATEGY = []


@pytest.fixture
def one_task_cluster(monkeypatch):
    """--strategy=multi_worker on a cluster of one task: this process, no server.

    A cluster loop run in-process: MultiWorkerMirroredStrategy made without TF_CONFIG
    (a real multi-task one needs its own process, see the local cluster tests).
    """
    if not _LOCAL_STRATEGY:
        with monkeypatch.context() as patch:
            patch.delenv("TF_CONFIG", raising=False)
            _LOCAL_STRATEGY.append(tf.distribute.MultiWorkerMirroredStrategy())
    value = tf_config({"worker": ["127.0.0.1:2001"]}, "worker")
    monkeypatch.setenv("TF_CONFIG", value)
    monkeypatch.setitem(distribute._CONNECTED, "multi_worker", distribute.Distribution(
        "multi_worker", _LOCAL_STRATEGY[0], distribute.parse_tf_config(value)))


def tensorboard_tags(log_dir):
    tags = set()
    for root, _, files in os.walk(log_dir):
        for name in files:
            if name.startswith("events."):
                for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                    tags.update(value.tag for value in event.summary.value)
    return tags


def test_the_cluster_loop_writes_what_model_fit_writes(one_task_cluster, planted, tmp_path):
    corpus, topics = planted
    fit_dir, loop_dir = tmp_path / "fit", tmp_path / "loop"
    training.train(config_for(corpus, fit_dir, epochs=2))
    model, vocab, history = training.train(config_for(corpus, loop_dir, strategy="multi_worker"))
    assert topic_purity(model, vocab, topics) >= 0.95
    for key in ("loss", "words_per_sec", "learning_rate"):
        assert len(history.history[key]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["learning_rate"][-1] < 0.025 * 0.01

    def listing(root):
        return sorted(os.path.relpath(os.path.join(d, f), root).split(".")[0]
                      for d, _, files in os.walk(root) for f in files)

    assert listing(loop_dir) == listing(fit_dir)
    assert "backup" not in os.listdir(loop_dir)
    assert (loop_dir / "vocab.tsv").read_bytes() == (fit_dir / "vocab.tsv").read_bytes()
    assert tensorboard_tags(loop_dir / "logs") == tensorboard_tags(fit_dir / "logs")
    assert keras.models.load_model(loop_dir / "model.keras").dim == 16


def test_the_cluster_loop_resumes_an_interrupted_run(one_task_cluster, planted, tmp_path):
    corpus, _ = planted
    config = config_for(corpus, tmp_path / "m", strategy="multi_worker")
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[InterruptAtEpoch(2)])
    assert (tmp_path / "m" / "backup" / "checkpoint").exists()
    with pytest.raises(UsageError, match="interrupted --strategy=multi_worker or "):
        training.train(config_for(corpus, tmp_path / "m"))  # model.fit reads another backup
    _, _, history = training.train(config)
    assert len(history.history["loss"]) == 1  # only the third epoch was left
    assert not (tmp_path / "m" / "backup").exists()


def test_the_cluster_loop_stops_early(one_task_cluster, planted, tmp_path):
    corpus, _ = planted
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    _, _, history = training.train(config_for(corpus, tmp_path / "m", epochs=5,
                                              strategy="multi_worker"), extra_callbacks=[stop])
    assert len(history.history["loss"]) == 2


# --- Real clusters: one process per task, in a network namespace of their own. ---

TRAIN_FLAGS = ["--dim=16", "--window=3", "--sample=0", "--min_count=1", "--epochs=3",
               "--batch_size=256", "--num_sampled=16", "--tokenizer=whitespace",
               "--steps_per_execution=8"]
# Brings up the loopback interface of a new network namespace, reports that it is
# ready, and holds the namespace until its standard input closes.
NAMESPACE_HOLDER = r"""
import fcntl, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket() as s:
    request = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
    flags = struct.unpack("16sH22x", request)[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
print("ready", flush=True)
sys.stdin.read()
"""


def free_ports(count):
    """Ports free on 127.0.0.1 here (the cluster's namespace is new: free there too)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def listening(pid):
    """(address, port) of every TCP socket listening in process ``pid``'s network namespace."""
    found = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/net/{name}") as f:
            for line in f.read().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state != "0A":  # TCP_LISTEN
                    continue
                address, port = local.split(":")
                raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.add((socket.inet_ntop(family, raw), int(port, 16)))
    return found


def interfaces(pid):
    with open(f"/proc/{pid}/net/dev") as f:
        return {line.split(":")[0].strip() for line in f.read().splitlines()[2:]}


def network_namespace(pid):
    return os.readlink(f"/proc/{pid}/ns/net")


class LocalCluster:
    """TensorFlow tasks as ``sg-keras train`` processes in a private network namespace.

    The namespace (made with util-linux ``unshare``, entered with ``nsenter``) has only
    the loopback interface. ``stop()`` kills every process group it started and checks
    that no process is left in the namespace.
    """

    def __init__(self, root, corpus, strategy, jobs):
        self.root, self.corpus, self.strategy = root, corpus, strategy
        ports = iter(free_ports(sum(jobs.values())))
        self.jobs = {job: [f"127.0.0.1:{next(ports)}" for _ in range(n)]
                     for job, n in jobs.items()}
        self.processes = {}
        self.holder = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--net", "--", sys.executable, "-c",
             NAMESPACE_HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True)
        ready = self.holder.stdout.readline().strip()
        if ready != "ready":
            self.stop()
            raise RuntimeError("the cluster's network namespace could not be made")
        self.namespace = network_namespace(self.holder.pid)

    @property
    def model_dir(self):
        return self.root / "model"

    def start(self, task_type, index=0, *flags):
        """Starts a task (a name such as ``worker1``, logged to ``root/worker1.log``)."""
        name = f"{task_type}{index}"
        env = {**os.environ, "TF_CONFIG": tf_config(self.jobs, task_type, index),
               "TMPDIR": str(self.root / f"tmp-{name}"), "PYTHONPATH": str(REPO),
               "PYTHONUNBUFFERED": "1"}
        os.makedirs(env["TMPDIR"], exist_ok=True)
        command = [sys.executable, "-m", "sg_keras.cli", "train", f"--corpus={self.corpus}",
                   f"--model_dir={self.model_dir}", f"--strategy={self.strategy}",
                   *TRAIN_FLAGS, *flags]
        with open(self.root / f"{name}.log", "w") as log:
            self.processes[name] = subprocess.Popen(
                ["nsenter", f"--target={self.holder.pid}", "--user", "--net",
                 "--preserve-credentials", "--", *command], env=env, cwd=self.root,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        return self.processes[name]

    def log(self, name):
        return (self.root / f"{name}.log").read_text(errors="replace")

    def wait_for(self, name, marker, timeout=240):
        """Waits until the task ``name`` logs ``marker``."""
        deadline = time.monotonic() + timeout
        while marker not in self.log(name):
            if self.processes[name].poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not log {marker!r}:\n{self.tail(name)}")
            time.sleep(0.2)

    def finish(self, name, timeout=300):
        """Waits for the task ``name`` to exit and checks that it succeeded."""
        try:
            code = self.processes[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} still running:\n{self.tail(name)}") from None
        assert code == 0, f"{name} exited with {code}:\n{self.tail(name)}"

    def tail(self, name, lines=40):
        return "\n".join(self.log(name).splitlines()[-lines:])

    def check_isolation(self):
        """Every task listens only inside the namespace, whose only interface is loopback."""
        assert interfaces(self.holder.pid) == {"lo"}
        for process in self.processes.values():
            if process.poll() is None:
                assert network_namespace(process.pid) == self.namespace
        inside = listening(self.holder.pid)
        ports = {int(address.rsplit(":", 1)[1]) for addresses in self.jobs.values()
                 for address in addresses}
        assert {port for _, port in inside} == ports  # the running tasks' servers, no more
        for address, _ in inside:  # TensorFlow's wildcard: this namespace's loopback only
            assert address in ("127.0.0.1", "::1", "0.0.0.0", "::"), address
        assert not {port for _, port in listening(os.getpid())} & ports  # none on this host

    def stop(self):
        """Kills every process started (pass or fail) and checks that none is left."""
        for process in [*self.processes.values(), self.holder]:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in [*self.processes.values(), self.holder]:
            process.wait(timeout=60)
        if self.holder.stdin:
            self.holder.stdin.close()
            self.holder.stdout.close()
        left = [pid for pid in os.listdir("/proc") if pid.isdigit()
                and _in_namespace(pid, getattr(self, "namespace", None))]
        assert not left, f"processes left in the cluster's namespace: {left}"


def _in_namespace(pid, namespace):
    try:
        return namespace is not None and network_namespace(pid) == namespace
    except OSError:  # gone, or not ours to inspect
        return False


def _namespaces_available():
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter")):
        return False
    return subprocess.run(["unshare", "--user", "--map-root-user", "--net", "true"],
                          capture_output=True).returncode == 0


@pytest.fixture
def local_cluster(tmp_path):
    """A function making LocalClusters in tmp_path; all are stopped at the end of the test."""
    if not _namespaces_available():
        message = "needs util-linux unshare/nsenter and user + network namespaces"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    corpus = tmp_path / "planted.txt"
    topics = planted_corpus(corpus)
    clusters = []

    def make(strategy, **jobs):
        clusters.append(LocalCluster(tmp_path, corpus, strategy, jobs))
        return clusters[-1]

    make.topics = topics
    yield make
    for cluster in clusters:
        cluster.stop()


def check_trained(model_dir, topics):
    names = set(os.listdir(model_dir))
    assert {"vocab.tsv", "config.json", "model.keras", "vectors.txt", "checkpoints",
            "logs"} <= names
    assert "backup" not in names and not [n for n in names if n.startswith((".tmp", ".partial"))]
    model, vocab, settings = training.load_trained(model_dir)
    assert settings["dim"] == 16 and len(vocab) == 36
    assert topic_purity(model, vocab, topics) >= 0.95


def test_multi_worker_cluster_trains_like_one_process(local_cluster):
    cluster = local_cluster("multi_worker", chief=1, worker=2)
    names = ["worker0", "worker1", "chief0"]
    for name in names:  # a global batch of 512 pairs: fewer all-reduce rounds
        cluster.start(name[:-1], int(name[-1]), "--batch_size=512")
    cluster.wait_for("chief0", "Epoch 1/3")
    cluster.check_isolation()
    for name in names:
        cluster.finish(name)
    check_trained(cluster.model_dir, local_cluster.topics)
    assert "model written to" in cluster.log("chief0")
    assert len(os.listdir(cluster.model_dir / "logs" / "train")) == 1  # the chief's events only
    for name in ("worker0", "worker1"):  # trained too, wrote only temporary files, removed
        assert "done: the chief wrote the model" in cluster.log(name)
        assert not [n for n in os.listdir(cluster.root / f"tmp-{name}")
                    if n.startswith("sg_keras-worker-")]


def start_parameter_server_cluster(local_cluster):
    cluster = local_cluster("parameter_server", chief=1, worker=2, ps=2)
    for task_type, index in [("ps", 0), ("ps", 1), ("worker", 0), ("worker", 1)]:
        cluster.start(task_type, index)
    cluster.start("chief")
    return cluster


def test_parameter_server_cluster_shards_the_embedding(local_cluster):
    cluster = start_parameter_server_cluster(local_cluster)
    cluster.wait_for("chief0", "Epoch 1/3")
    cluster.check_isolation()
    cluster.finish("chief0")
    check_trained(cluster.model_dir, local_cluster.topics)
    assert ("the embedding is split in 2 shards: (18, 16) on /job:ps/replica:0/task:0/"
            "device:CPU:0, (18, 16) on /job:ps/replica:0/task:1/device:CPU:0"
            in cluster.log("chief0"))
    for name in ("ps0", "ps1", "worker0", "worker1"):  # they serve until stopped
        assert cluster.processes[name].poll() is None, cluster.tail(name)


def test_parameter_server_training_survives_a_killed_worker(local_cluster):
    cluster = start_parameter_server_cluster(local_cluster)
    cluster.wait_for("chief0", "epoch 1/3: loss")
    os.killpg(cluster.processes["worker1"].pid, signal.SIGKILL)
    assert cluster.processes["chief0"].poll() is None  # killed while training went on
    cluster.finish("chief0")
    check_trained(cluster.model_dir, local_cluster.topics)
    assert "epoch 3/3: loss" in cluster.log("chief0")
    assert cluster.processes["worker1"].wait(timeout=10) == -signal.SIGKILL


def test_parameter_server_chief_resumes_after_a_crash(local_cluster):
    cluster = local_cluster("parameter_server", chief=1, worker=1, ps=1)
    for task_type in ("ps", "worker", "chief"):
        cluster.start(task_type)
    cluster.wait_for("chief0", "epoch 1/3: loss")  # logged once the epoch's backup is saved
    os.killpg(cluster.processes["chief0"].pid, signal.SIGKILL)
    cluster.processes["chief0"].wait(timeout=10)
    assert not (cluster.model_dir / "model.keras").exists()
    (cluster.root / "chief0.log").rename(cluster.root / "chief0-crashed.log")
    cluster.start("chief")  # the same command again, with the ps and worker still serving
    cluster.finish("chief0")
    log = cluster.log("chief0")
    assert "resuming after epoch 1 from" in log and "epoch 1/3: loss" not in log
    assert "epoch 3/3: loss" in log
    check_trained(cluster.model_dir, local_cluster.topics)


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
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "m").exists()
