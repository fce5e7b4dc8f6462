"""Kill it anywhere and lose nothing; bad input ends in one line, never a traceback or hang.

A run killed (SIGKILL) at any moment — counting, any step of an epoch, a backup's write,
the final save — and run again with the same command writes the same vectors, byte for
byte, as a run that was never interrupted, and leaves nothing temporary behind.
"""

import gzip
import signal
import subprocess
import sys
import time

import pytest

from conftest import assert_usage_error, planted_corpus, sg_keras
from sg_keras.model_dir import ModelDir

TRAIN = ["train", "--corpus=corpus.txt", "--epochs=3", "--dim=16", "--batch_size=512",
         "--tokenizer=whitespace", "--min_count=1", "--steps_per_execution=2",
         "--verbosity=-1"]

# Runs `sg-keras ARGS` in this process with one library function replaced by one that
# kills the process (SIGKILL) at its Nth call, or at its end when WHEN is "after".
_KILL_AT = """\
import importlib, os, signal, sys
from sg_keras import cli
module_name, name, when, call = sys.argv[1:5]
owner_name, _, attribute = name.rpartition(".")
module = importlib.import_module(module_name)
owner = getattr(module, owner_name) if owner_name else module
original = getattr(owner, attribute)
calls = []
def killing(*args, **kwargs):
    calls.append(1)
    if len(calls) == int(call) and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    if len(calls) == int(call) and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(owner, attribute, killing)
sys.argv = ["sg-keras", *sys.argv[5:]]
cli.run()
"""


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A corpus and the vectors of a run on it that nothing interrupted."""
    root = tmp_path_factory.mktemp("uninterrupted")
    planted_corpus(root / "corpus.txt", sentences=1500)
    result = sg_keras(*TRAIN, "--model_dir=reference", cwd=root)
    assert result.returncode == 0, result.stderr
    return root, (root / "reference" / "vectors.txt").read_bytes()


def assert_rerun_finishes_with_the_same_vectors(root, model_dir, reference, train=TRAIN):
    result = sg_keras(*train, f"--model_dir={model_dir}", cwd=root)
    assert result.returncode == 0, result.stderr
    assert (root / model_dir / "vectors.txt").read_bytes() == reference
    left = [path for path in (root / model_dir).rglob("*")
            if path.name.startswith(".tmp") or "_temp" in path.name or ".tmp" in path.name]
    assert not left, left
    assert not (root / model_dir / "backup").exists()


@pytest.mark.parametrize("module, name, when, call", [
    ("sg_keras.vocab", "count_words", "before", 1),                 # while counting
    ("sg_keras.model_dir", "ModelDir.write_run", "after", 1),       # before training
    ("sg_keras.backup", "Backup.save", "after", 1),                 # after epoch 1's backup
    ("sg_keras.backup", "Backup.save", "before", 2),                # before epoch 2's backup
    ("sg_keras.model_dir", "zip_directory", "before", 1),           # inside the final save
    ("sg_keras.model_dir", "ModelDir.save_model", "after", 1),      # before the backup goes
])
def test_a_run_killed_at_an_event_resumes_to_the_same_vectors(uninterrupted, module, name,
                                                              when, call):
    root, reference = uninterrupted
    model_dir = f"killed-{name}-{when}-{call}"
    killed = subprocess.run([sys.executable, "-c", _KILL_AT, module, name, when, str(call),
                             *TRAIN, f"--model_dir={model_dir}"], cwd=root,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert_rerun_finishes_with_the_same_vectors(root, model_dir, reference)


@pytest.mark.parametrize("call, step", [(6, 12)])  # inside epoch 2 (8 steps an epoch)
def test_a_run_killed_inside_an_epoch_resumes_to_the_same_vectors(uninterrupted, call, step):
    """A backup after every execution (--backup_interval tiny); killed after backup
    ``call``, taken at ``step``, the rerun (default interval) resumes there."""
    root, reference = uninterrupted
    model_dir = f"killed-inside-an-epoch-{call}"
    killed = subprocess.run([sys.executable, "-c", _KILL_AT, "sg_keras.backup", "Backup.save",
                             "after", str(call), *TRAIN, "--backup_interval=1e-9",
                             f"--model_dir={model_dir}"], cwd=root,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert backup_step(root / model_dir / "backup") == step
    assert_rerun_finishes_with_the_same_vectors(root, model_dir, reference)


TRAIN_SUBWORDS = [*TRAIN, "--max_n=4", "--buckets=5000"]


def test_a_run_with_subwords_killed_inside_an_epoch_resumes_to_the_same_vectors(uninterrupted):
    """The n-gram rows (and the words' pieces) come back from the backup too."""
    root, _ = uninterrupted
    assert sg_keras(*TRAIN_SUBWORDS, "--model_dir=subwords-reference", cwd=root).returncode == 0
    reference = (root / "subwords-reference" / "vectors.txt").read_bytes()
    killed = subprocess.run([sys.executable, "-c", _KILL_AT, "sg_keras.backup", "Backup.save",
                             "after", "6", *TRAIN_SUBWORDS, "--backup_interval=1e-9",
                             "--model_dir=subwords-killed"], cwd=root,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert backup_step(root / "subwords-killed" / "backup") == 12
    assert_rerun_finishes_with_the_same_vectors(root, "subwords-killed", reference,
                                                TRAIN_SUBWORDS)


def backup_step(directory):
    """The optimizer's step recorded in the newest backup of ``directory``."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(directory))
    steps = [reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
             if name.startswith("optimizer/") and "iterations" in name]
    assert len(steps) == 1, reader.get_variable_to_shape_map()
    return int(steps[0])


@pytest.mark.parametrize("seconds", [5.0, 7.0, 9.0])
def test_a_run_killed_at_a_moment_resumes_to_the_same_vectors(uninterrupted, seconds):
    root, reference = uninterrupted
    model_dir = f"killed-at-{seconds}s"
    process = subprocess.Popen([sys.executable, "-m", "sg_keras.cli", *TRAIN,
                                f"--model_dir={model_dir}"], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    process.kill()
    process.wait()
    assert_rerun_finishes_with_the_same_vectors(root, model_dir, reference)


def test_a_partly_written_backup_generation_is_passed_over(uninterrupted):
    root, reference = uninterrupted
    model_dir = "torn-backup"
    killed = subprocess.run([sys.executable, "-c", _KILL_AT, "sg_keras.backup", "Backup.save",
                             "after", "2", *TRAIN, f"--model_dir={model_dir}"], cwd=root,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL
    backup = root / model_dir / "backup"
    newest = max(backup.glob("local-*.data-*"))
    newest.write_bytes(newest.read_bytes()[:10])  # a disk that lost the end of the newest
    assert_rerun_finishes_with_the_same_vectors(root, model_dir, reference)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_says_how_to_resume_in_one_line(uninterrupted, signum, status):
    root, reference = uninterrupted
    model_dir = f"interrupted-{signum}"
    process = subprocess.Popen([sys.executable, "-m", "sg_keras.cli", *TRAIN,
                                f"--model_dir={model_dir}"], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (root / model_dir / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # into building or training the model (a whole run takes a few seconds)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert lines == [f"interrupted: run the same command again to resume {model_dir} from its "
                     "last backup"]
    assert_rerun_finishes_with_the_same_vectors(root, model_dir, reference)


# Runs `sg-keras ARGS` with the model's row update (called while TensorFlow traces the train
# function) sending the process SIGINT and re-typing the KeyboardInterrupt as pybind11 does
# when a signal lands inside a C++ callback into Python.
_INTERRUPT_WHILE_TRACING = """\
import os, signal, sys, time
from sg_keras import cli, process
process.import_tensorflow_quietly()
from sg_keras import optimizers
original = optimizers.subtract_rows
def interrupted(*args, **kwargs):
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    except KeyboardInterrupt:
        raise RuntimeError("pybind11::error_already_set: MISMATCH of original and normalized "
                           "active exception types")
    return original(*args, **kwargs)
optimizers.subtract_rows = interrupted
sys.argv = ["sg-keras", *sys.argv[1:]]
cli.run()
"""


def test_an_interruption_retyped_inside_tensorflow_is_still_an_interruption(uninterrupted):
    root, reference = uninterrupted
    result = subprocess.run([sys.executable, "-c", _INTERRUPT_WHILE_TRACING, *TRAIN,
                             "--model_dir=retyped"], cwd=root, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "interrupted: run the same command again to resume retyped from its last backup"]
    assert_rerun_finishes_with_the_same_vectors(root, "retyped", reference)


def test_a_second_run_into_a_model_dir_in_use_is_refused(uninterrupted):
    root, _ = uninterrupted
    long_run = [*TRAIN, "--epochs=1000", "--model_dir=busy"]
    first = subprocess.Popen([sys.executable, "-m", "sg_keras.cli", *long_run], cwd=root,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (root / "busy" / "config.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert_usage_error(sg_keras(*long_run, cwd=root),
                           "busy is in use by another sg-keras train")
    finally:
        first.kill()
        first.wait()
    with ModelDir(str(root / "busy")).lock():  # a killed process holds the lock no longer
        pass


@pytest.fixture
def files(tmp_path):
    planted_corpus(tmp_path / "good.txt", sentences=200)
    (tmp_path / "a_file").write_text("not a directory\n")
    (tmp_path / "one_word_lines.txt").write_text("".join(f"w{i % 7}\n" for i in range(500)))
    good = (tmp_path / "good.txt").read_bytes()
    packed = gzip.compress(good * 20)
    (tmp_path / "truncated.txt.gz").write_bytes(packed[:len(packed) // 2])
    (tmp_path / "nan.vec").write_text("3 2\na 1 2\nb nan 1\nc 0 1\n")
    (tmp_path / "huge.vec").write_text("1000000000 1000\na 1 2\n")
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["train", "--corpus=good.txt", "--seed=-1"], "--seed must be in 0"),
    (["train", "--corpus=good.txt", "--sample=nan"], "--sample must be at least 0 and finite"),
    (["train", "--corpus=good.txt", "--backup_interval=-1"],
     "--backup_interval must be at least 0 and finite"),
    (["train", "--corpus=good.txt", "--backup_interval=inf"],
     "--backup_interval must be at least 0 and finite"),
    (["train", "--corpus=good.txt", "--learning_rate=inf"], "--learning_rate must be positive"),
    (["train", "--corpus=good.txt", "--window=1000000000"], "GiB of memory"),
    (["train", "--corpus=good.txt", "--batch_size=1000000000"], "GiB of memory"),
    (["train", "--corpus=good.txt", "--num_sampled=100000000"], "GiB of memory"),
    (["train", "--corpus=good.txt", "--dim=10000000"], "GiB of memory"),
    (["train", "--corpus=good.txt", "--model_dir=a_file"], "exists and is not a directory"),
    (["train", "--corpus=truncated.txt.gz"], "cannot read corpus file truncated.txt.gz"),
    (["train", "--corpus=one_word_lines.txt", "--min_count=1"], "gives no training pairs"),
    (["pairs", ""], "the text has no words"),
    (["pairs", "--window=1000000000", "--shrink_window", "a b c"], "GiB of memory"),
    (["evaluate", "--vectors=nan.vec", "--similarity=x"], "is not finite"),
    (["evaluate", "--vectors=huge.vec", "--similarity=x"], "more than its 22 bytes can hold"),
    (["export", "--vectors=nan.vec", "--export_dir=out"], "is not finite"),
])
def test_bad_input_is_one_line_and_exit_2(files, args, message):
    if args[0] == "train" and not any(a.startswith("--model_dir") for a in args):
        args = [*args, "--model_dir=model"]
    result = sg_keras(*args, cwd=files, timeout=300)
    assert_usage_error(result, message)
    assert not (files / "model").exists()
    assert not (files / "out").exists()


def test_a_word_that_is_not_utf8_is_not_found_without_a_traceback(files):
    result = subprocess.run([sys.executable, "-m", "sg_keras.cli", "pairs", b"a \xff b"],
                            cwd=files, capture_output=True)
    assert result.returncode == 0 and b"(a, b)" in result.stdout, result.stderr


def test_help_exits_0():
    result = sg_keras("--help")
    assert result.returncode == 0 and "sg-keras train" in result.stdout


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB filesystem of its own (tmpfs; needs root), unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize("free_kib", [16, 96])
def test_a_full_disk_is_one_line_and_the_rerun_finishes_alike(uninterrupted, small_disk,
                                                              free_kib):
    root, reference = uninterrupted
    ballast = small_disk / "ballast"
    with open(ballast, "wb") as f:  # leave free_kib of the 2 MiB free
        f.write(b"\0" * (2048 - free_kib) * 1024)
    model_dir = small_disk / "model"
    assert_usage_error(sg_keras(*TRAIN, f"--model_dir={model_dir}", cwd=root),
                       "No space left on device")
    ballast.unlink()
    assert_rerun_finishes_with_the_same_vectors(root, model_dir, reference)
