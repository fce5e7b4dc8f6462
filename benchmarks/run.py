"""Benchmark: sg-keras train, gensim, fastText and the TF tutorial approach on one corpus, in one run.

    .venv/bin/python -m benchmarks.run [--corpus=PATH] [--epochs=1]
        [--systems=sg_keras,gensim,fasttext,tutorial] [--checkouts=../before,../after]
        [--max_n=6 --min_n=3 --buckets=2000000]

--max_n (with --min_n, --buckets) trains sg-keras and fastText with character n-gram
subwords (gensim's Word2Vec has none); fastText reads plain text only, so the
corpus is decompressed once, before any run and untimed, for it.

--checkouts adds one system per directory: sg-keras as that checkout's code
(PYTHONPATH=DIR python -m sg_keras.cli train, this environment's packages), named
sg_keras@DIR, so that two revisions (git worktrees) run interleaved in one run and
edits to this checkout during a long run do not change what is measured.

Each system runs as its own process with the same settings; the harness
measures wall time and peak RSS of that process (os.wait4, through
benchmarks/peak_rss.py so that the harness's own memory is not counted), counts raw words/s
as corpus words x epochs / wall time (whole process: start to vectors
written), evaluates the written vectors (analogy@30k, WS-353, SimLex-999) and
appends a Markdown section with the exact command to benchmarks/RESULTS.md.
"""

import datetime
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from sg_keras import evaluation
from sg_keras.word_vectors import WordVectors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")

FLAGS = flags.FLAGS
flags.DEFINE_string("corpus", os.path.join(DATA, "wiki10.text8.txt.gz"), "Corpus (text8-style).")
flags.DEFINE_list("systems", ["sg_keras", "gensim", "tutorial"], "Systems to run.")
flags.DEFINE_integer("epochs", 1, "Passes over the corpus.")
flags.DEFINE_integer("dim", 100, "Vector size.")
flags.DEFINE_integer("window", 5, "Window.")
flags.DEFINE_integer("negative", 5, "Negative samples.")
flags.DEFINE_float("sample", 1e-4, "Subsampling threshold.")
flags.DEFINE_integer("min_count", 5, "Minimum count.")
flags.DEFINE_integer("workers", 2, "gensim worker threads, fastText threads.")
flags.DEFINE_integer("min_n", 3, "Shortest character n-gram (with --max_n).")
flags.DEFINE_integer("max_n", 0, "Longest character n-gram: subwords for sg-keras and fastText; "
                     "0 = none.")
flags.DEFINE_integer("buckets", 2_000_000, "Hash buckets of the n-grams (with --max_n).")
flags.DEFINE_integer("tutorial_words", 100_000, "Corpus slice for the TF tutorial approach.")
flags.DEFINE_list("checkouts", [], "Other sg_keras checkouts to run as systems sg_keras@DIR.")
flags.DEFINE_list("sg_keras_flags", [], "Extra flags for sg-keras train, e.g. --batch_size=8192.")
flags.DEFINE_list("variant_flags", [], "Flags for a second system of the installed sg_keras, "
                  "sg_keras+variant, with --sg_keras_flags and these (e.g. --phrases=FILE): "
                  "the same code with and without them, interleaved.")
flags.DEFINE_string("analogies", os.path.join(DATA, "questions-words.txt"), "Analogy file.")
flags.DEFINE_list("similarity", [os.path.join(DATA, "wordsim353", "combined.csv"),
                                 os.path.join(DATA, "SimLex-999", "SimLex-999.txt")],
                  "Word-pair files, e.g. WS-353, SimLex-999, RW (../shared/data/rw/rw.txt).")
flags.DEFINE_string("results", os.path.join(REPO, "benchmarks", "RESULTS.md"), "Results file.")
flags.DEFINE_string("label", "", "A note for this run's section heading.")
flags.DEFINE_string("peer", "gensim", "The system whose speed the others are compared with.")
flags.DEFINE_integer("repeats", 1, "Runs of each system, interleaved (A B A B …); the table "
                     "gives the median wall time and the range (the machine may be shared).")


def measure(command, env=None):
    """Runs command (in the checkout that ``env``'s PYTHONPATH names, if any: ``python -m``
    puts the working directory first on sys.path); returns (wall seconds, its peak RSS
    in MiB, exit status)."""
    with tempfile.NamedTemporaryFile("r") as rss_file:
        started = time.perf_counter()
        status = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "peak_rss.py"),
                                 rss_file.name, *command], stdout=subprocess.DEVNULL,
                                env=env, cwd=env["PYTHONPATH"] if env else None).returncode
        wall = time.perf_counter() - started
        peak_kib = int(rss_file.read() or 0)
    return wall, peak_kib / 1024, status


def count_words(path):
    import gzip
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return sum(len(line.split()) for line in f)


def plain_text(corpus, workdir):
    """The corpus as a plain-text file (fastText's input): itself, or decompressed once."""
    if not corpus.endswith(".gz"):
        return corpus
    path = os.path.join(workdir, os.path.basename(corpus)[:-3])
    if not os.path.exists(path):
        import gzip
        import shutil
        with gzip.open(corpus, "rb") as source, open(path, "wb") as target:
            shutil.copyfileobj(source, target)
    return path


def training_settings():
    """The settings every system trains with, in the order the peers' scripts take them."""
    return dict(dim=FLAGS.dim, window=FLAGS.window, negative=FLAGS.negative,
                sample=FLAGS.sample, min_count=FLAGS.min_count, epochs=FLAGS.epochs)


def append_section(section):
    """Prints a Markdown section and appends it to --results."""
    print(section)
    with open(FLAGS.results, "a", encoding="utf-8") as f:
        f.write(section)


def commands(workdir):
    """(name, command, environment, vectors file, raw words trained: corpus words x epochs)
    per system."""
    settings = training_settings()
    subword_flags = ([f"--min_n={FLAGS.min_n}", f"--max_n={FLAGS.max_n}",
                      f"--buckets={FLAGS.buckets}"] if FLAGS.max_n else [])
    python = sys.executable
    sg_keras = os.path.join(os.path.dirname(python), "sg-keras")
    corpus_words = count_words(FLAGS.corpus) * FLAGS.epochs

    def train(name, program, extra_flags=()):
        return ([*program, "train", f"--corpus={FLAGS.corpus}", f"--model_dir={workdir}/{name}",
                 "--tokenizer=whitespace", *[f"--{k}={v}" for k, v in settings.items()],
                 *subword_flags, *FLAGS.sg_keras_flags, *extra_flags],
                # with subwords, the model_dir (unseen words from its n-grams)
                f"{workdir}/{name}" if FLAGS.max_n else f"{workdir}/{name}/vectors.txt",
                corpus_words)

    runs = {
        "sg_keras": (*train("sg_keras", [sg_keras]), None),
        VARIANT: (*train("variant", [sg_keras], FLAGS.variant_flags), None),
        "gensim": ([python, os.path.join(REPO, "benchmarks", "gensim_word2vec.py"), FLAGS.corpus,
                    f"{workdir}/gensim.txt", *map(str, settings.values()), str(FLAGS.workers)],
                   f"{workdir}/gensim.txt", corpus_words, None),
        "fasttext": ([python, os.path.join(REPO, "benchmarks", "fasttext_skipgram.py"),
                      plain_text(FLAGS.corpus, workdir) if "fasttext" in systems() else "",
                      f"{workdir}/fasttext.bin", *map(str, settings.values()), str(FLAGS.workers),
                      str(FLAGS.min_n), str(FLAGS.max_n), str(FLAGS.buckets)],
                     f"{workdir}/fasttext.bin", corpus_words, None),
        "tutorial": ([python, os.path.join(REPO, "benchmarks", "tf_tutorial_word2vec.py"),
                      FLAGS.corpus, f"{workdir}/tutorial.txt", str(FLAGS.tutorial_words),
                      str(FLAGS.dim), str(FLAGS.window), str(FLAGS.negative),
                      str(FLAGS.min_count), str(FLAGS.epochs)],
                     f"{workdir}/tutorial.txt",
                     min(FLAGS.tutorial_words * FLAGS.epochs, corpus_words), None),
    }
    for index, checkout in enumerate(FLAGS.checkouts):
        env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
        runs[checkout_name(checkout)] = (
            *train(f"checkout{index}", [python, "-m", "sg_keras.cli"]), env)
    return [(name, command, env, vectors, words)
            for name, (command, vectors, words, env) in runs.items() if name in systems()]


def check_imported_from(checkout):
    found = subprocess.run([sys.executable, "-c", "import sg_keras; print(sg_keras.__file__)"],
                           capture_output=True, text=True, cwd=checkout,
                           env=dict(os.environ, PYTHONPATH=checkout), check=True).stdout
    if not found.startswith(os.path.join(checkout, "")):
        sys.exit(f"error: sg_keras was imported from {found.strip()}, not from {checkout}")


def checkout_name(checkout):
    return f"sg_keras@{os.path.basename(os.path.abspath(checkout))}"


VARIANT = "sg_keras+variant"


def systems():
    return (FLAGS.systems + [VARIANT] * bool(FLAGS.variant_flags)
            + [checkout_name(checkout) for checkout in FLAGS.checkouts])


def quality(path):
    """Analogy and word-pair figures of a vectors file, fastText .bin or model_dir (these
    two with subwords: word pairs score unseen words from their n-grams)."""
    load = WordVectors.from_model_dir if os.path.isdir(path) else WordVectors.load
    results = evaluation.evaluate(load(path), [FLAGS.analogies], FLAGS.similarity)
    analogy = results["analogy"][FLAGS.analogies]
    spearman = [(results["similarity"][p]["spearman"], results["similarity"][p]["pairs"])
                for p in FLAGS.similarity]
    return analogy, spearman


def machine():
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    with open("/proc/meminfo", encoding="utf-8") as f:
        memory = int(f.readline().split()[1]) / 1024 / 1024
    import importlib.metadata

    import gensim
    import tensorflow as tf
    try:
        fasttext = f", fasttext {importlib.metadata.version('fasttext')}"
    except importlib.metadata.PackageNotFoundError:
        fasttext = ""
    return (f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}, gensim {gensim.__version__}{fasttext}")


def main(argv):
    del argv
    unknown = set(FLAGS.systems) - {"sg_keras", "gensim", "fasttext", "tutorial"}
    if unknown or not os.path.exists(FLAGS.corpus):
        sys.exit(f"error: unknown systems {sorted(unknown)} or missing corpus {FLAGS.corpus}")
    missing = [c for c in FLAGS.checkouts if not os.path.isfile(os.path.join(c, "sg_keras", "cli.py"))]
    if missing:
        sys.exit(f"error: not sg_keras checkouts: {missing}")
    if FLAGS.repeats < 1:
        sys.exit("error: --repeats must be at least 1")
    runs = {}
    with tempfile.TemporaryDirectory() as workdir:
        baseline = measure([sys.executable, "-c", "import tensorflow as tf; tf.constant(1) + 1"])
        for _ in range(FLAGS.repeats):
            for name, command, env, vectors_file, words in commands(workdir):
                where = f"PYTHONPATH={env['PYTHONPATH']} " if env else ""
                print(f"running {name}: {where}{shlex.join(command)}", flush=True)
                wall, rss, status = measure(command, env)
                if env:  # the code measured is the checkout's
                    check_imported_from(env["PYTHONPATH"])
                if status != 0:
                    sys.exit(f"error: {name} failed with exit status {status}")
                analogy, spearman = quality(vectors_file)
                runs.setdefault(name, []).append((words, wall, rss, analogy, spearman))
                print(f"  {wall:.1f}s, {words / wall:,.0f} words/s, {rss:,.0f} MiB, "
                      f"analogy {100 * analogy['accuracy']:.2f}%", flush=True)
    append_section(report(runs, baseline))


def revision(checkout):
    result = subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() or "not a git checkout"


def median_run(runs):
    """The run with the median wall time (the lower middle one for an even count)."""
    return sorted(runs, key=lambda run: run[1])[(len(runs) - 1) // 2]


def report(runs, baseline):
    names = {"sg_keras": "sg-keras train", "gensim": f"gensim Word2Vec(sg=1, workers={FLAGS.workers})",
             "fasttext": f"fastText skipgram (thread={FLAGS.workers})",
             "tutorial": f"TF tutorial approach ({FLAGS.tutorial_words:,}-word slice)",
             VARIANT: f"sg-keras train {' '.join(FLAGS.variant_flags)}",
             **{checkout_name(c): f"sg-keras train, checkout {c} ({revision(c)})"
                for c in FLAGS.checkouts}}
    medians = {name: median_run(system_runs) for name, system_runs in runs.items()}
    peer = medians[FLAGS.peer][0] / medians[FLAGS.peer][1] if FLAGS.peer in medians else None
    lines = [
        f"\n## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
        + (f" — {FLAGS.label}" if FLAGS.label else ""),
        "",
        f"- Command: `python -m benchmarks.run {shlex.join(sys.argv[1:])}`".rstrip(),
        f"- Corpus: `{os.path.relpath(FLAGS.corpus, REPO)}`; settings: dim {FLAGS.dim}, window "
        f"{FLAGS.window}, negative {FLAGS.negative}, sample {FLAGS.sample:g}, min_count "
        f"{FLAGS.min_count}, epochs {FLAGS.epochs}"
        + (f"; subwords: n-grams {FLAGS.min_n}–{FLAGS.max_n}, {FLAGS.buckets:,} buckets "
           "(sg-keras, fastText)" if FLAGS.max_n else "")
        + (f"; sg-keras flags {' '.join(FLAGS.sg_keras_flags)}" if FLAGS.sg_keras_flags else "")
        + (f"; {VARIANT}: also {' '.join(FLAGS.variant_flags)}" if FLAGS.variant_flags else ""),
        f"- Machine: {machine()}",
        f"- TensorFlow runtime baseline (import tensorflow, one op): "
        f"peak RSS {baseline[1]:,.0f} MiB",
        f"- Runs per system: {FLAGS.repeats}, interleaved; wall time, words/s and quality of the "
        f"median run, the range of wall times in brackets; peak RSS the largest"
        if FLAGS.repeats > 1 else "- One run per system",
        "",
        f"| system | words trained | wall s | raw words/s | vs {FLAGS.peer} | peak RSS MiB "
        "| analogy@30k (seen) "
        + "".join(f"| {similarity_label(path)} ρ (pairs) " for path in FLAGS.similarity) + "|",
        "|---|---:|---:|---:|---:|---:|---:" + "|---:" * len(FLAGS.similarity) + "|",
    ]
    for name, (words, wall, _, analogy, spearman) in medians.items():
        speed = words / wall
        ratio = f"{speed / peer:.2f}×" if peer else "–"
        walls = [run[1] for run in runs[name]]
        spread = f" ({min(walls):.1f}–{max(walls):.1f})" if len(walls) > 1 else ""
        rss = max(run[2] for run in runs[name])
        lines.append(
            f"| {names[name]} | {words:,} | {wall:.1f}{spread} | {speed:,.0f} | {ratio} | {rss:,.0f} | "
            f"{100 * analogy['accuracy']:.2f}% ({analogy['seen']:,}) | "
            + "".join(f"{rho:.3f} ({pairs:,}) | " for rho, pairs in spearman).rstrip())
    return "\n".join(lines) + "\n"


SIMILARITY_LABELS = {"combined.csv": "WS-353", "SimLex-999.txt": "SimLex-999", "rw.txt": "RW"}


def similarity_label(path):
    name = os.path.basename(path)
    return SIMILARITY_LABELS.get(name, name)


if __name__ == "__main__":
    app.run(main)
