"""Benchmark: `sg-keras phrases` against gensim's Phrases (word2phrase's scorer), one run.

    .venv/bin/python -m benchmarks.phrases [--corpus=PATH] [--min_count=5 --threshold=100]
        [--repeats=3]   (default corpus: wiki10.text8; repeats: 1)

Each system runs as its own process, interleaved (A B A B …): sg-keras's whole process
(start to phrases file written) against gensim's learning pass plus its export (the
process, Python start and imports included). Reports median wall times, their ratio,
peak RSS, both phrase counts and the Jaccard index of the two phrase sets, with the
phrases found by one only (the largest scores first), and appends a Markdown section
to benchmarks/RESULTS.md.
"""

import datetime
import os
import shlex
import sys
import tempfile

from absl import app, flags

from benchmarks.run import REPO, append_section, machine, measure, median_run
from sg_keras.phrases import PhraseTable

# --corpus, --min_count, --repeats, --results and --label are benchmarks.run's flags.
FLAGS = flags.FLAGS
flags.DEFINE_float("threshold", 100.0, "word2phrase's threshold.")


def commands(workdir):
    ours = os.path.join(workdir, "sg_keras.tsv")
    theirs = os.path.join(workdir, "gensim.tsv")
    return {
        "sg_keras": ([sys.executable, "-m", "sg_keras.cli", "phrases", f"--corpus={FLAGS.corpus}",
                      f"--output={ours}", "--tokenizer=whitespace",
                      f"--min_count={FLAGS.min_count}", f"--threshold={FLAGS.threshold!r}"], ours),
        "gensim": ([sys.executable, os.path.join(REPO, "benchmarks", "gensim_phrases.py"),
                    FLAGS.corpus, theirs, str(FLAGS.min_count), repr(FLAGS.threshold)], theirs),
    }


def read_sets(paths):
    ours = PhraseTable.load(paths["sg_keras"])
    our_scores = dict(zip(ours.phrases, ours.passes[0].scores))
    with open(paths["gensim"], encoding="utf-8") as f:
        their_scores = {phrase: float(score) for phrase, score in
                        (line.rstrip("\n").split("\t") for line in f)}
    return our_scores, their_scores


def main(argv):
    del argv
    if not os.path.exists(FLAGS.corpus) or FLAGS.repeats < 1:
        sys.exit(f"error: missing corpus {FLAGS.corpus} or --repeats < 1")
    runs = {}
    with tempfile.TemporaryDirectory() as workdir:
        systems = commands(workdir)
        for _ in range(FLAGS.repeats):
            for name, (command, _) in systems.items():
                print(f"running {name}: {shlex.join(command)}", flush=True)
                wall, rss, status = measure(command, dict(os.environ, PYTHONPATH=REPO))
                if status != 0:
                    sys.exit(f"error: {name} failed with exit status {status}")
                runs.setdefault(name, []).append((0, wall, rss))
                print(f"  {wall:.1f}s, {rss:,.0f} MiB", flush=True)
        ours, theirs = read_sets({name: path for name, (_, path) in systems.items()})
    append_section(report(runs, ours, theirs))


def report(runs, ours, theirs):
    both = set(ours) & set(theirs)
    jaccard = len(both) / max(len(set(ours) | set(theirs)), 1)
    walls = {name: median_run(system_runs)[1] for name, system_runs in runs.items()}
    names = {"sg_keras": "sg-keras phrases", "gensim": "gensim Phrases (word2phrase scorer)"}
    found = {"sg_keras": ours, "gensim": theirs}
    lines = [
        f"\n## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC — phrases"
        + (f": {FLAGS.label}" if FLAGS.label else ""),
        "",
        f"- Command: `python -m benchmarks.phrases {shlex.join(sys.argv[1:])}`".rstrip(),
        f"- Corpus: `{os.path.relpath(FLAGS.corpus, REPO)}`; min_count {FLAGS.min_count}, "
        f"threshold {FLAGS.threshold:g}, one pass",
        f"- Machine: {machine()}",
        f"- Runs per system: {FLAGS.repeats}, interleaved; median wall time, range in brackets",
        "",
        "| system | wall s | vs gensim | peak RSS MiB | phrases |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, system_runs in runs.items():
        spread = [run[1] for run in system_runs]
        lines.append(f"| {names[name]} | {walls[name]:.1f} ({min(spread):.1f}–{max(spread):.1f}) "
                     f"| {walls[name] / walls['gensim']:.2f}× | "
                     f"{max(run[2] for run in system_runs):,.0f} | {len(found[name]):,} |")
    lines += ["", f"Jaccard index of the phrase sets: {jaccard:.4f} ({len(both):,} in both)."]
    for name, other in (("sg_keras", "gensim"), ("gensim", "sg_keras")):
        only = sorted(set(found[name]) - set(found[other]), key=lambda p: -found[name][p])
        shown = ", ".join(f"{p} ({found[name][p]:.1f})" for p in only[:10])
        lines.append(f"Only {names[name]}: {len(only):,}" + (f", e.g. {shown}" if only else "")
                     + ".")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app.run(main)
