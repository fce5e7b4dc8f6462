"""The benchmark programs run end to end on a tiny corpus and report what they measured."""

import json
import os
import random
import re
import subprocess
import sys
import textwrap

import numpy as np
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


# A run's line on the harness's stdout: "  WALLs, SPEED words/s, RSS MiB, analogy ACC%".
RUN_LINE = re.compile(r"  ([\d.]+)s, ([\d,]+) words/s, ([\d,]+) MiB, analogy ([\d.]+)%")


def harness_runs(stdout):
    """{system: [(wall, words/s, peak MiB, analogy %), …]} as the harness printed each run."""
    runs, system = {}, None
    for line in stdout.splitlines():
        if line.startswith("running "):
            system = line.split()[1].rstrip(":")
        elif RUN_LINE.fullmatch(line):
            wall, speed, rss, analogy = RUN_LINE.fullmatch(line).groups()
            runs.setdefault(system, []).append(
                (float(wall), int(speed.replace(",", "")), int(rss.replace(",", "")),
                 float(analogy)))
    return runs


def table_rows(report):
    """{system name: [cells…]} of the report's table."""
    return {cells[0]: cells[1:] for cells in
            ([cell.strip() for cell in line.split("|")[1:-1]] for line in report.splitlines())
            if cells and cells[0] not in ("system", "---")}


def check_row_against_runs(cells, runs, peer_runs):
    """A row's median, range, speed, ratio, peak and analogy, recomputed from its runs."""
    by_wall = sorted(runs, key=lambda run: -run[1])  # by speed: by wall time, unrounded
    median = by_wall[(len(runs) - 1) // 2]  # the lower middle run of an even count
    walls = [run[0] for run in runs]
    spread = f" ({min(walls):.1f}–{max(walls):.1f})" if len(runs) > 1 else ""
    assert cells[1] == f"{median[0]:.1f}{spread}"
    assert cells[2] == f"{median[1]:,}"
    peer = sorted(peer_runs, key=lambda run: -run[1])[(len(peer_runs) - 1) // 2]
    # Recomputed from words/s rounded to the unit: the ratio may differ in its last digit.
    assert cells[3].endswith("×") and abs(float(cells[3][:-1]) - median[1] / peer[1]) < 0.0051
    assert cells[4] == f"{max(run[2] for run in runs):,}"
    assert cells[5].startswith(f"{median[3]:.2f}% (")


def test_harness_runs_sg_keras_and_gensim_interleaved(tiny):
    results = tiny / "RESULTS.md"
    pairs = str(tiny / "pairs.txt")
    stdout = run_module("benchmarks.run", f"--corpus={tiny / 'corpus.txt'}",
                        "--systems=sg_keras,gensim", "--repeats=2", "--min_count=1",
                        f"--analogies={tiny / 'questions.txt'}", f"--similarity={pairs},{pairs}",
                        f"--results={results}")
    report = results.read_text()
    assert "- Command: `python -m benchmarks.run --corpus=" in report
    assert "Runs per system: 2, interleaved" in report
    assert [line.split()[1] for line in stdout.splitlines() if line.startswith("running ")] == \
        ["sg_keras:", "gensim:"] * 2
    runs = harness_runs(stdout)
    rows = table_rows(report)
    assert set(rows) == {"sg-keras train", "gensim Word2Vec(sg=1, workers=2)"}
    for name, system in (("sg-keras train", "sg_keras"),
                         ("gensim Word2Vec(sg=1, workers=2)", "gensim")):
        assert rows[name][0] == "12,000"  # words trained: 60 lines x 200 words
        assert len(runs[system]) == 2
        check_row_against_runs(rows[name], runs[system], runs["gensim"])


def harness(script, *args):
    """Runs ``script`` (Python, given ``args`` as sys.argv[1:]) in the repository: the
    harness defines absl flags that the library's own (tests in this process) may share."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


_REPORT = """
    import json, sys
    from benchmarks import run

    run.FLAGS(["run", "--workers=2", "--repeats=3"])
    runs = {system: [tuple(run) for run in system_runs]
            for system, system_runs in json.loads(sys.argv[1]).items()}
    print(run.report(runs, (1.0, 321.0, 0)))
"""


def fake_run(wall, rss, accuracy, spearman):
    """A run's figures; ``spearman``: one ρ per word-pair file (each of 1,000 pairs)."""
    return [12_000, wall, rss, {"accuracy": accuracy, "seen": int(1000 * accuracy)},
            [(rho, 1000) for rho in spearman]]


@pytest.mark.parametrize("extra_runs", [0, 1])  # three runs each, or four (an even count)
def test_report_gives_the_median_run_and_its_speed_against_gensims(extra_runs):
    runs = {  # by hand: the median sg-keras run takes 3.0 s, the median gensim run 6.4 s
        "sg_keras": [fake_run(4.0, 500.0, 0.30, [0.31, 0.11]),
                     fake_run(2.0, 700.0, 0.20, [0.21, 0.12]),
                     fake_run(3.0, 600.0, 0.25, [0.26, 0.13])]
        + [fake_run(5.0, 650.0, 0.50, [0.51, 0.14])] * extra_runs,
        "gensim": [fake_run(6.4, 200.0, 0.40, [0.41, 0.15]),
                   fake_run(5.0, 190.0, 0.35, [0.36, 0.16]),
                   fake_run(8.0, 210.0, 0.45, [0.46, 0.17])]
        + [fake_run(9.0, 205.0, 0.55, [0.56, 0.18])] * extra_runs,
    }
    report = harness(_REPORT, json.dumps(runs))
    high = "5.0" if extra_runs else "4.0"
    gensim_high = "9.0" if extra_runs else "8.0"
    # 12,000 words / 3.0 s = 4,000 words/s; / 6.4 s = 1,875 words/s; 4,000 / 1,875 = 2.13.
    assert f"| sg-keras train | 12,000 | 3.0 (2.0–{high}) | 4,000 | 2.13× | 700 | 25.00% (250) "\
        "| 0.260 (1,000) | 0.130 (1,000) |" in report.splitlines()
    assert f"| gensim Word2Vec(sg=1, workers=2) | 12,000 | 6.4 (5.0–{gensim_high}) | 1,875 "\
        "| 1.00× | 210 | 40.00% (400) | 0.410 (1,000) | 0.150 (1,000) |" in report.splitlines()
    assert "peak RSS 321 MiB" in report


def test_report_without_gensim_has_no_ratio_and_one_run_no_range():
    runs = {"sg_keras": [fake_run(2.5, 400.0, 0.125, [0.5, 0.25])]}
    rows = table_rows(harness(_REPORT, json.dumps(runs)))
    assert rows == {"sg-keras train": ["12,000", "2.5", "4,800", "–", "400", "12.50% (125)",
                                       "0.500 (1,000)", "0.250 (1,000)"]}


_MEASURE = """
    import json, sys
    from benchmarks import run

    def python(code):
        return run.measure([sys.executable, "-c", code])

    print(json.dumps({
        "short": python("import time; time.sleep(0.2)"),
        "long": python("import time; time.sleep(1.7)"),
        "big": python("import numpy; held = numpy.ones(300 * 2**20 // 8)"),
        "failed": python("raise SystemExit(3)"),
    }))
"""


def test_measure_times_the_command_and_takes_its_own_peak_memory():
    figures = json.loads(harness(_MEASURE))
    (short, short_rss, short_status), (long, _, long_status) = figures["short"], figures["long"]
    assert short >= 0.2 and long >= 1.7
    assert 1.5 - 0.4 < long - short < 1.5 + 0.4  # the start-up costs the same
    assert 0 < short_rss < 100  # a bare Python, not the harness (which holds TensorFlow)
    assert 300 <= figures["big"][1] < 300 + 100
    assert (short_status, long_status, figures["big"][2], figures["failed"][2]) == (0, 0, 0, 3)


# The harness with two stand-in systems that sleep known times and copy a vectors file.
_FAKE_SYSTEMS = """
    import json, os, sys
    from absl import app
    from benchmarks import run

    sleeps, vectors = json.loads(sys.argv[1]), sys.argv[2]
    repeat = []

    def commands(workdir):
        i = len(repeat)
        repeat.append(i)
        out = os.path.join(workdir, "vectors.txt")
        code = (f"import shutil, time; time.sleep({{}}); shutil.copy({vectors!r}, {out!r})")
        return [(name, [sys.executable, "-c", code.format(times[i])], None, out, 12_000)
                for name, times in sleeps.items()]

    run.commands = commands
    app.run(run.main, argv=["run", *sys.argv[3:]])
"""


def test_harness_reports_the_median_of_known_wall_times(tiny):
    words = [f"w{i}" for i in range(1, 10)]
    matrix = np.random.default_rng(0).normal(size=(len(words), 4))
    (tiny / "vectors.txt").write_text(f"{len(words)} 4\n" + "".join(
        f"{w} {' '.join(map(str, row))}\n" for w, row in zip(words, matrix)))
    sleeps = {"sg_keras": [2.0, 0.0, 1.0], "gensim": [0.5, 2.5, 1.5]}  # medians: run 3
    pairs = str(tiny / "pairs.txt")
    stdout = harness(_FAKE_SYSTEMS, json.dumps(sleeps), str(tiny / "vectors.txt"),
                     f"--corpus={tiny / 'corpus.txt'}", "--systems=sg_keras,gensim",
                     "--repeats=3", f"--analogies={tiny / 'questions.txt'}",
                     f"--similarity={pairs},{pairs}", f"--results={tiny / 'RESULTS.md'}")
    runs = harness_runs(stdout)
    rows = table_rows((tiny / "RESULTS.md").read_text())
    for system, name in (("sg_keras", "sg-keras train"),
                         ("gensim", "gensim Word2Vec(sg=1, workers=2)")):
        walls = [run[0] for run in runs[system]]
        for wall, sleep in zip(walls, sleeps[system]):
            assert sleep <= wall + 0.05 < sleep + 1.0  # each run timed (printed to 0.1 s)
        assert rows[name][1] == f"{walls[2]:.1f} ({min(walls):.1f}–{max(walls):.1f})"
        assert rows[name][2] == f"{runs[system][2][1]:,}"  # the speed of that same run
        check_row_against_runs(rows[name], runs[system], runs["gensim"])
    # sg-keras's median run took about 1.0 s, gensim's about 1.5: about 1.5 times the speed.
    ratio = float(rows["sg-keras train"][3][:-1])
    assert abs(ratio - runs["gensim"][2][0] / runs["sg_keras"][2][0]) < 0.1
    assert 1.5 / 2 < ratio < 1.5 * 2


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


_CHECKOUT_COMMANDS = """
    import json, sys
    from absl import flags
    from benchmarks import run

    flags.FLAGS(["run", *sys.argv[1:]])
    print(json.dumps([(name, command, env and env["PYTHONPATH"])
                      for name, command, env, _, _ in run.commands(sys.argv[-1])]))
"""


def test_a_checkout_runs_its_own_code_from_its_own_directory(tiny, tmp_path):
    stdout = harness(_CHECKOUT_COMMANDS, f"--corpus={tiny / 'corpus.txt'}", "--systems=gensim",
                     f"--checkouts={REPO}", str(tmp_path))
    (gensim, _, no_path), (name, command, path) = json.loads(stdout)
    assert gensim == "gensim" and no_path is None
    assert name == f"sg_keras@{os.path.basename(REPO)}" and path == REPO
    assert command[1:4] == ["-m", "sg_keras.cli", "train"]
    # the harness checks that a run imports the checkout's package, from there
    run = subprocess.run([sys.executable, "-c", "from benchmarks import run; "
                          f"run.check_imported_from({str(tmp_path)!r})"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0


def test_a_directory_that_is_no_checkout_is_refused(tiny, tmp_path):
    result = subprocess.run([sys.executable, "-m", "benchmarks.run",
                             f"--corpus={tiny / 'corpus.txt'}", f"--checkouts={tmp_path}"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "error: not sg_keras checkouts" in result.stderr


def test_phrases_benchmark_compares_the_sets_and_times_with_gensims(tmp_path):
    from test_phrases import collocation_corpus

    collocation_corpus(tmp_path / "corpus.txt", sentences=1500)
    results = tmp_path / "RESULTS.md"
    stdout = run_module("benchmarks.phrases", f"--corpus={tmp_path / 'corpus.txt'}",
                        "--min_count=3", "--threshold=5", "--repeats=2", f"--results={results}")
    walls = {}
    for line, timing in zip(stdout.splitlines(), stdout.splitlines()[1:]):
        if line.startswith("running "):
            walls.setdefault(line.split()[1].rstrip(":"), []).append(
                float(timing.split("s,")[0]))
    assert {name: len(w) for name, w in walls.items()} == {"sg_keras": 2, "gensim": 2}
    section = results.read_text()
    rows = table_rows(section)
    ours, theirs = rows["sg-keras phrases"], rows["gensim Phrases (word2phrase scorer)"]
    median = {name: sorted(w)[0] for name, w in walls.items()}  # lower middle of two
    assert ours[0].startswith(f"{median['sg_keras']:.1f} (")
    # each wall is printed rounded to 0.1 s, so the true one is within 0.05 s of it; the
    # table's ratio of the true walls, itself rounded to 0.01, lies between these bounds
    ours_wall, gensim_wall = median["sg_keras"], median["gensim"]
    lowest = (ours_wall - 0.05) / (gensim_wall + 0.05) - 0.005
    highest = (ours_wall + 0.05) / max(gensim_wall - 0.05, 1e-9) + 0.005
    assert lowest <= float(ours[1].rstrip("×")) <= highest
    assert ours[3] == theirs[3] and int(ours[3]) >= 3  # the same phrases, as many
    assert "Jaccard index of the phrase sets: 1.0000" in section
    assert "Only sg-keras phrases: 0." in section


def test_queries_benchmark_times_both_on_the_same_vectors_and_checks_their_answers(tmp_path):
    from sg_keras import vectors

    matrix = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    vectors.save_word2vec_text(str(tmp_path / "v.txt"), [f"w{i}" for i in range(500)], matrix)
    results = tmp_path / "RESULTS.md"
    run_module("benchmarks.queries", f"--vectors={tmp_path / 'v.txt'}", "--queries=30",
               "--large_words=2000", "--large_dim=4", "--large_queries=6", f"--results={results}")
    section = results.read_text()
    assert f"- Command: `python -m benchmarks.queries --vectors={tmp_path / 'v.txt'}" in section
    rows = table_rows(section)
    assert set(rows) == {"vectors", "v.txt", "random"}  # (the header)
    for name, shape, queries in (("v.txt", "500 × 8", "30"), ("random", "2,000 × 4", "6")):
        cells = rows[name]
        assert cells[:2] == [shape, queries] and cells[-1] == f"{queries}/{queries}"
        ours_p50, ours_p90, gensim_p50, gensim_p90 = map(float, cells[2:6])
        assert 0 < ours_p50 <= ours_p90 and 0 < gensim_p50 <= gensim_p90
        # The ratio of the unrounded medians: within the cells' rounding of what they give.
        low = (ours_p50 - 0.005) / (gensim_p50 + 0.005)
        high = (ours_p50 + 0.005) / (gensim_p50 - 0.005)
        assert low - 0.005 <= float(cells[6].rstrip("×")) <= high + 0.005


def test_continued_benchmark_runs_both_systems_three_ways_and_reports_each(tiny):
    results = tiny / "RESULTS.md"
    stdout = run_module("benchmarks.continued", f"--corpus={tiny / 'corpus.txt'}", "--epochs=1",
                        "--dim=8", "--min_count=1", f"--analogies={tiny / 'questions.txt'}",
                        f"--similarity={tiny / 'pairs.txt'}", f"--results={results}",
                        "--continue_flags=--learning_rate=0.01")
    printed = re.findall(r"^running (.+?): .*\n  ([\d.]+)s, ([\d,]+) MiB, analogy ([\d.]+)% "
                         r"\((\d+) questions\)$", stdout, re.MULTILINE)
    rows = table_rows(results.read_text())
    assert [name for name, *_ in printed] == [
        "A", "B continuing A", "A+B from scratch", "gensim A",
        "gensim A, then B continuing it", "gensim A+B from scratch"]
    for name, wall, rss, accuracy, seen in printed:
        assert rows[name][:4] == [wall, rss, f"{accuracy}%", seen]
    assert "the continued run's extra flags: `--learning_rate=0.01`" in results.read_text()
