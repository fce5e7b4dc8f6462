"""The benchmark programs run end to end on a tiny corpus and report what they measured."""

import os
import random
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tiny(tmp_path):
    rng = random.Random(0)
    words = [f"w{i}" for i in range(40)]
    (tmp_path / "corpus.txt").write_text(
        "\n".join(" ".join(rng.choice(words) for _ in range(200)) for _ in range(60)) + "\n")
    (tmp_path / "questions.txt").write_text(": section\nw1 w2 w3 w4\nw5 w6 w7 w8\n")
    (tmp_path / "pairs.txt").write_text("w1 w2 1.0\nw3 w4 2.0\nw5 w9 3.0\n")
    return tmp_path


def run_module(module, *flags):
    result = subprocess.run([sys.executable, "-m", module, *flags], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_harness_runs_sg_keras_and_gensim_interleaved(tiny):
    results = tiny / "RESULTS.md"
    pairs = str(tiny / "pairs.txt")
    run_module("benchmarks.run", f"--corpus={tiny / 'corpus.txt'}", "--systems=sg_keras,gensim",
               "--repeats=2", "--min_count=1", f"--analogies={tiny / 'questions.txt'}",
               f"--similarity={pairs},{pairs}", f"--results={results}")
    report = results.read_text()
    assert "- Command: `python -m benchmarks.run --corpus=" in report
    assert "Runs per system: 2, interleaved" in report
    rows = {line.split("|")[1].strip(): line.split("|")[2:] for line in report.splitlines()
            if line.startswith("| sg-keras") or line.startswith("| gensim")}
    assert set(rows) == {"sg-keras train", "gensim Word2Vec(sg=1, workers=2)"}
    for cells in rows.values():
        assert cells[0].strip() == "12,000"  # words trained: 60 lines x 200 words
        median, spread = cells[1].split(" (")
        low, high = map(float, spread.rstrip(") ").split("–"))
        assert low <= float(median) <= high
    assert rows["gensim Word2Vec(sg=1, workers=2)"][3].strip() == "1.00×"


def test_components_reports_pipeline_and_step_speed(tiny):
    output = run_module("benchmarks.components", f"--corpus={tiny / 'corpus.txt'}",
                        "--pipeline_pairs=20000", "--steps=5", "--batch_size=256", "--sample=0",
                        "--loss=softmax", "--max_vocab_size=30")
    assert "input pipeline alone:" in output and "train step alone:" in output
    assert "% of this machine's measured float32 matmul" in output


def test_peak_rss_is_the_commands_own_not_the_harness(tmp_path):
    # A child forked straight from a process holding 400 MiB reports >= 400 MiB as its
    # ru_maxrss; through the launcher a bare Python reports its own tens of MiB.
    probe = (
        "import os, subprocess, sys, numpy\n"
        "held = numpy.ones(400 * 2**20 // 8)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'pass'])\n"
        "print(os.wait4(child.pid, 0)[2].ru_maxrss // 1024)\n"
        f"subprocess.run([sys.executable, {os.path.join(REPO, 'benchmarks', 'peak_rss.py')!r}, "
        f"{str(tmp_path / 'rss')!r}, sys.executable, '-c', 'pass'], check=True)\n")
    direct_mib = int(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                    text=True, check=True).stdout)
    launched_mib = int((tmp_path / "rss").read_text()) // 1024
    assert direct_mib >= 400
    assert 0 < launched_mib < 100


def test_peak_rss_passes_the_exit_status_on(tmp_path):
    status = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "peak_rss.py"),
                             str(tmp_path / "rss"), sys.executable, "-c", "raise SystemExit(3)"])
    assert status.returncode == 3
    assert int((tmp_path / "rss").read_text()) > 0
