"""Training distributed with tf.distribute: the cluster reader, the strategies
(sg_keras.strategies), the cluster loop in this process (sg_keras.loops), and real
clusters of local processes. TF_CONFIG and its checks: tests/test_cluster.py.

The clusters run each TensorFlow task as a separate ``sg-keras train`` process inside a
private network namespace whose only interface is loopback: TensorFlow's gRPC server
listens on every address of its namespace (``0.0.0.0`` is hard-coded in TensorFlow), so
the namespace is what keeps the cluster off the network.
"""

import contextlib
import gzip
import json
import os
import random
import re
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

from conftest import (REPO, ExecutionsSeen, InterruptAtEpoch, InterruptAtStep, config_for,
                      planted_corpus, topic_purity)
from sg_keras import corpus as corpus_lib
from sg_keras import strategies, training
from sg_keras.errors import UsageError
from sg_keras.model import SkipGram
from sg_keras.model_dir import ModelDir
from sg_keras.vocab import count_vocabulary


def tf_config(jobs, task_type="chief", index=0):
    return json.dumps({"cluster": jobs, "task": {"type": task_type, "index": index}})


def read_shards(paths, num_shards, sentences_per_block=3):
    """The sentences of each shard, in order, as lists of words."""
    shards = []
    for index in range(num_shards):
        blocks = corpus_lib.ShardedCorpus([str(p) for p in paths], num_shards, index,
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


def cut_by_the_rule(line, max_words):
    """The rule, stated independently: a line of more than ``max_words`` words is cut
    after every ``max_words``-th word; any other line is one sentence."""
    words = line.split()
    return [words[i:i + max_words] for i in range(0, len(words), max_words)] or [words]


def test_a_long_line_is_cut_after_every_max_sentence_words_th_word(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_lib, "MAX_SENTENCE_WORDS", 4)
    lines = [" ".join(f"word{i}" for i in range(10)),  # 4 + 4 + 2
             "a\tb  c d",  # exactly 4 words: whole, whatever the whitespace
             "one two three four five",  # 4 + 1
             " ".join(f"x{i}" for i in range(8)),  # 4 + 4, no empty third sentence
             "short  line", ""]
    path = tmp_path / "long.txt"
    path.write_text("\n".join(lines) + "\n")
    expected = [piece for line in lines for piece in cut_by_the_rule(line, 4)]
    assert len(expected) == 3 + 1 + 2 + 2 + 1 + 1
    sharded, = read_shards([path], 1, sentences_per_block=100)
    assert sharded == expected
    local = [sentence.split() for sentence in corpus_lib.Corpus([str(path)]).sentences()]
    assert local == expected  # one rule for both readers


def test_both_readers_cut_long_lines_alike(tmp_path):
    # The real limit (gensim's 10,000 words), with a long line across the local reader's
    # first BLOCK_CHARS, which it cuts while that line is still being read.
    limit = corpus_lib.MAX_SENTENCE_WORDS
    lines = [" ".join(f"w{i}" for i in range(count))
             for count in (2 * limit + limit // 2 + 1, limit, 2 * limit, 3)] + ["", "x y"]
    path = tmp_path / "long.txt"
    path.write_text("\n".join(lines) + "\n")
    ends = np.cumsum([len(line) + 1 for line in lines])
    assert any(end - len(line) - 1 < corpus_lib.BLOCK_CHARS < end and len(line.split()) > limit
               for line, end in zip(lines, ends))
    expected = [piece for line in lines for piece in cut_by_the_rule(line, limit)]
    assert [len(piece) for piece in expected[:6]] == [limit, limit, limit // 2 + 1, limit,
                                                      limit, limit]
    local = [sentence.split() for sentence in corpus_lib.Corpus([str(path)]).sentences()]
    sharded, = read_shards([path], 1, sentences_per_block=100)
    assert local == expected
    assert sharded == expected


def write_sentences(path, sentences, lengths, seed):
    """A corpus of ``sentences`` lines, each of a length drawn from ``lengths``."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(sentences):
            f.write(" ".join(f"w{rng.randrange(500)}" for _ in range(rng.choice(lengths))) + "\n")


@pytest.mark.parametrize("lengths", [range(1, 40), range(20, 101)])  # 20 or 60 words on average
@pytest.mark.parametrize("num_shards", [1, 2])
def test_cluster_reader_blocks_hold_about_block_words_words(tmp_path, lengths, num_shards):
    path = tmp_path / "corpus.txt"
    mean_length = sum(lengths) / len(lengths)
    sentences = round(3.5 * num_shards * corpus_lib.BLOCK_WORDS / mean_length)
    write_sentences(path, sentences, lengths, seed=len(lengths))
    _, counts = count_vocabulary(corpus_lib.Corpus([str(path)]), "whitespace", min_count=1)
    per_block = corpus_lib.sentences_per_block(counts)
    for index in range(num_shards):  # a worker's blocks, whatever its share of the corpus
        dataset = corpus_lib.ShardedCorpus([str(path)], num_shards, index, per_block).dataset()
        blocks = [sum(len(sentence.split()) for sentence in block)
                  for block in dataset.as_numpy_iterator()]
        assert len(blocks) >= 3
        for words in blocks[:-1]:  # the last block holds what is left
            assert words == pytest.approx(corpus_lib.BLOCK_WORDS, rel=0.05)
        assert blocks[-1] <= 1.05 * corpus_lib.BLOCK_WORDS


def test_noise_words_can_be_drawn_from_a_seed():
    # Asynchronous parameter-server workers draw from (step, worker): one shared seed
    # generator would give two workers the same noise words at the same time.
    model = SkipGram(50, 4, noise_counts=np.arange(50, 0, -1), num_sampled=32, seed=1)
    model.context_softmax.kernel.assign(np.random.default_rng(0).normal(size=(50, 4)))
    state = model.noise_seed.state.numpy().copy()
    pairs = tf.constant([1, 2, 3], tf.int64), tf.constant([4, 5, 6], tf.int64)

    def losses(step, worker):
        seed = tf.constant([step, worker], tf.int64)
        return model.losses_and_gradients(*pairs, noise_seed=seed)[0].numpy()

    np.testing.assert_array_equal(losses(7, 0), losses(7, 0))
    assert not np.array_equal(losses(7, 0), losses(7, 1))
    np.testing.assert_array_equal(model.noise_seed.state.numpy(), state)  # generator untouched


def test_mirrored_strategy_trains(planted, tmp_path):
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
    monkeypatch.setenv("TF_CONFIG", tf_config({"worker": ["127.0.0.1:2001"]}, "worker"))
    # connect() makes the strategy object from TF_CONFIG, with the local tf.distribute
    # strategy in place of the one MultiWorkerStrategy would make (and wait for a cluster).
    monkeypatch.setattr(strategies, "_CONNECTED", {})
    monkeypatch.setattr(strategies.MultiWorkerStrategy, "__post_init__",
                        lambda self: setattr(self, "strategy", _LOCAL_STRATEGY[0]))
    connected = strategies.connect("multi_worker")
    assert isinstance(connected, strategies.MultiWorkerStrategy)
    assert (connected.workers, connected.is_chief) == (1, True)


def tensorboard_tags(log_dir):
    tags = set()
    for root, _, files in os.walk(log_dir):
        for name in files:
            if name.startswith("events."):
                for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                    tags.update(value.tag for value in event.summary.value)
    return tags


def test_the_cluster_loop_writes_what_the_default_strategy_writes(one_task_cluster, planted, tmp_path):
    corpus, topics = planted
    fit_dir, loop_dir = tmp_path / "fit", tmp_path / "loop"
    training.train(config_for(corpus, fit_dir, epochs=2))
    model, vocab, history = training.train(config_for(corpus, loop_dir, strategy="multi_worker"))
    assert topic_purity(model, vocab, topics) >= 0.95
    assert model.gradient_rows_per_pair  # all-gathered gradients of the batch's length
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
        training.train(config_for(corpus, tmp_path / "m"))  # default reads another backup
    _, _, history = training.train(config)
    assert len(history.history["loss"]) == 1  # only the third epoch was left
    assert not (tmp_path / "m" / "backup").exists()


def test_the_multi_worker_loop_resumes_inside_an_epoch_to_the_same_vectors(
        one_task_cluster, planted, tmp_path):
    corpus, _ = planted
    reference, _, _ = training.train(config_for(corpus, tmp_path / "reference", epochs=2,
                                                strategy="multi_worker"))
    config = config_for(corpus, tmp_path / "m", epochs=2, strategy="multi_worker",
                        backup_interval=1e-9)  # a backup after every execution
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[InterruptAtStep(epoch=1, step=16)])
    seen = ExecutionsSeen()
    model, _, _ = training.train(config, extra_callbacks=[seen])
    assert seen.seen[0] == (1, 16)
    np.testing.assert_array_equal(model.word_vectors(), reference.word_vectors())


def test_subwords_train_under_multi_worker(one_task_cluster, planted, tmp_path):
    # multi_worker's all-gathered gradients need one length on every worker: the n-gram
    # rows' gradient is padded to max_pieces rows a pair (SubwordEmbedding.row_gradient).
    corpus, topics = planted
    model, vocab, _ = training.train(config_for(corpus, tmp_path / "m", epochs=2, min_n=2,
                                                max_n=4, buckets=2000, strategy="multi_worker"))
    assert model.gradient_rows_per_pair and model.subwords["buckets"] == 2000
    assert topic_purity(model, vocab, topics) >= 0.95


def test_hierarchical_softmax_trains_under_multi_worker(one_task_cluster, planted, tmp_path):
    # The inner nodes' gradient has a length of its own per batch: padded to the batch's
    # pairs times the longest path, as all-gathering needs one length on every worker.
    corpus, topics = planted
    model, vocab, _ = training.train(config_for(corpus, tmp_path / "m", epochs=2, loss="hs",
                                                strategy="multi_worker"))
    assert model.gradient_rows_per_pair and model.loss_name == "hs"
    assert topic_purity(model, vocab, topics) >= 0.95


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
    trained = ModelDir(model_dir).load()
    assert trained.settings["dim"] == 16 and len(trained.vocab) == 36
    assert topic_purity(trained.model, trained.vocab, topics) >= 0.95


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


def start_parameter_server_cluster(local_cluster, *flags):
    cluster = local_cluster("parameter_server", chief=1, worker=2, ps=2)
    for task_type, index in [("ps", 0), ("ps", 1), ("worker", 0), ("worker", 1)]:
        cluster.start(task_type, index, *flags)
    cluster.start("chief", 0, *flags)
    return cluster


def test_parameter_server_cluster_shards_the_embedding(local_cluster):
    # With subwords: the 36 word rows and the 1,000 n-gram buckets' rows, one matrix; and
    # hierarchical softmax, whose inner nodes' rows are sharded like the output layer's.
    cluster = start_parameter_server_cluster(local_cluster, "--min_n=2", "--max_n=4",
                                             "--buckets=1000", "--loss=hs")
    cluster.wait_for("chief0", "Epoch 1/3")
    cluster.check_isolation()
    cluster.finish("chief0")
    check_trained(cluster.model_dir, local_cluster.topics)
    model = ModelDir(cluster.model_dir).load().model
    assert model.subwords["buckets"] == 1000 and model.loss_name == "hs"
    assert ("the embedding is split in 2 shards: (518, 16) on /job:ps/replica:0/task:0/"
            "device:CPU:0, (518, 16) on /job:ps/replica:0/task:1/device:CPU:0"
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
    for task_type in ("ps", "worker"):
        cluster.start(task_type)
    cluster.start("chief", 0, "--backup_interval=1e-9")  # a backup after every execution
    # Logged once the epoch's backup is saved, after one per execution inside it.
    cluster.wait_for("chief0", "epoch 1/3: loss")
    os.killpg(cluster.processes["chief0"].pid, signal.SIGKILL)
    cluster.processes["chief0"].wait(timeout=10)
    assert not (cluster.model_dir / "model.keras").exists()
    (cluster.root / "chief0.log").rename(cluster.root / "chief0-crashed.log")
    cluster.start("chief")  # the same command again, with the ps and worker still serving
    cluster.finish("chief0")
    log = cluster.log("chief0")
    resumed = int(re.search(r"resuming after step (\d+) from", log).group(1))
    assert resumed > 0 and "epoch 1/3: loss" not in log
    assert "epoch 3/3: loss" in log
    check_trained(cluster.model_dir, local_cluster.topics)
