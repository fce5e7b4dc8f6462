"""Benchmark: continued training against training from scratch on the same text, one run.

    .venv/bin/python -m benchmarks.continued [--corpus=PATH] --epochs=5
        [--continue_flags=--learning_rate=0.0125]

Splits the corpus's lines into halves A and B (untimed), then runs, each as its own
``sg-keras train`` process: A alone (--epochs); B continuing A (``--init_from``, the same
--epochs, plus --continue_flags); and A+B from scratch (--epochs): the same total work as
A then B. With ``--systems`` including gensim, gensim's Word2Vec does the same: A, then B
continuing it (``build_vocab(update=True)``, ``train``), and A+B from scratch. Evaluates
analogy@30k (and how many questions its 30k words cover) and the word-pair sets on each
result, and appends a Markdown section with the commands to benchmarks/RESULTS.md.
"""

import datetime
import os
import shlex
import sys
import tempfile

from absl import app, flags

from benchmarks.run import (REPO, append_section, machine, measure, plain_text, quality,
                            training_settings)

# --corpus, --epochs, --dim, --window, --negative, --sample, --min_count, --analogies,
# --similarity, --results, --label, --systems (here sg_keras and gensim; others are not
# part of this benchmark) and --workers are benchmarks.run's flags.
FLAGS = flags.FLAGS
flags.DEFINE_list("continue_flags", [], "Extra flags for the continued run (B from A).")


def split_halves(corpus, workdir):
    """Paths of the first and second halves of the corpus's lines (plain text)."""
    with open(plain_text(corpus, workdir), encoding="utf-8") as f:
        lines = f.readlines()
    halves = []
    for name, part in (("a.txt", lines[:len(lines) // 2]), ("b.txt", lines[len(lines) // 2:])):
        halves.append(os.path.join(workdir, name))
        with open(halves[-1], "w", encoding="utf-8") as f:
            f.writelines(part)
    return halves


def train_command(corpus, model_dir, *extra):
    return [sys.executable, "-m", "sg_keras.cli", "train", f"--corpus={corpus}",
            f"--model_dir={model_dir}",
            *[f"--{name}={value}" for name, value in training_settings().items()],
            "--tokenizer=whitespace", "--verbosity=-1", *extra]


def gensim_command(corpus, out, more=None):
    return [sys.executable, os.path.join(REPO, "benchmarks", "gensim_word2vec.py"), corpus, out,
            *map(str, training_settings().values()), str(FLAGS.workers),
            *([more] if more else [])]


def main(argv):
    del argv
    if not os.path.exists(FLAGS.corpus):
        sys.exit(f"error: missing corpus {FLAGS.corpus}")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        half_a, half_b = split_halves(FLAGS.corpus, workdir)
        both = os.path.join(workdir, "ab.txt")  # A then B, one file (gensim reads one)
        with open(both, "w", encoding="utf-8") as out:
            for half in (half_a, half_b):
                with open(half, encoding="utf-8") as f:
                    out.writelines(f)
        if not {"sg_keras", "gensim"} & set(FLAGS.systems):
            sys.exit("error: --systems names neither sg_keras nor gensim")
        runs = {}  # name: (command, vectors file)
        if "sg_keras" in FLAGS.systems:
            model_dirs = {name: os.path.join(workdir, name) for name in ("A", "B", "AB")}
            runs.update({
                "A": (train_command(half_a, model_dirs["A"]), model_dirs["A"]),
                "B continuing A": (train_command(half_b, model_dirs["B"],
                                                 f"--init_from={model_dirs['A']}",
                                                 *FLAGS.continue_flags), model_dirs["B"]),
                "A+B from scratch": (train_command(f"{half_a},{half_b}", model_dirs["AB"]),
                                     model_dirs["AB"]),
            })
            runs = {name: (command, os.path.join(model_dir, "vectors.txt"))
                    for name, (command, model_dir) in runs.items()}
        if "gensim" in FLAGS.systems:
            files = {name: os.path.join(workdir, f"gensim_{name}.txt") for name in ("A", "B", "AB")}
            runs.update({
                "gensim A": (gensim_command(half_a, files["A"]), files["A"]),
                "gensim A, then B continuing it": (gensim_command(half_a, files["B"], half_b),
                                                   files["B"]),
                "gensim A+B from scratch": (gensim_command(both, files["AB"]), files["AB"]),
            })
        for name, (command, vectors_file) in runs.items():
            print(f"running {name}: {shlex.join(command)}", flush=True)
            wall, rss, status = measure(command, dict(os.environ, PYTHONPATH=REPO))
            if status != 0:
                sys.exit(f"error: {name} failed with exit status {status}")
            analogy, spearman = quality(vectors_file)
            rows.append((name, wall, rss, analogy, spearman))
            print(f"  {wall:.1f}s, {rss:,.0f} MiB, analogy {analogy['accuracy']:.2%} "
                  f"({analogy['seen']} questions)", flush=True)
    pair_names = [os.path.basename(os.path.dirname(p)) or p for p in FLAGS.similarity]
    lines = [
        f"\n## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC — continued "
        "training" + (f": {FLAGS.label}" if FLAGS.label else ""),
        "",
        f"- Command: `python -m benchmarks.continued {shlex.join(sys.argv[1:])}`",
        f"- Corpus: `{os.path.relpath(FLAGS.corpus, REPO)}`, its lines split into halves A and "
        f"B; {FLAGS.epochs} epochs a run, dim {FLAGS.dim}, window {FLAGS.window}, negative "
        f"{FLAGS.negative}, sample {FLAGS.sample:g}, min_count {FLAGS.min_count}; the "
        f"continued run's extra flags: `{' '.join(FLAGS.continue_flags) or 'none'}`",
        f"- Machine: {machine()}",
        "",
        "| run | wall s | peak RSS MiB | analogy@30k | questions seen | "
        + " | ".join(pair_names) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(pair_names),
    ]
    for name, wall, rss, analogy, spearman in rows:
        lines.append(f"| {name} | {wall:.1f} | {rss:,.0f} | {analogy['accuracy']:.2%} | "
                     f"{analogy['seen']:,} | "
                     + " | ".join(f"{rho:.3f}" for rho, _ in spearman) + " |")
    append_section("\n".join(lines) + "\n")


if __name__ == "__main__":
    app.run(main)
