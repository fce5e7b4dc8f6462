"""``sg-keras``: the command-line tool (an absl app), a thin layer over the library.

Commands:
  sg-keras train --corpus=PATH[,PATH…] --model_dir=DIR [--phrases=PHRASES.tsv]
      [--vocab=VOCAB.tsv] [flags]
  sg-keras similar (--model_dir=DIR | --vectors=FILE) WORD… | "king - man + woman"…
  sg-keras similar (--model_dir=DIR | --vectors=FILE) --doesnt_match WORD WORD…
  sg-keras pairs --window=2 "TEXT"
  sg-keras phrases --corpus=PATH[,PATH…] --output=PHRASES.tsv [--threshold=100 --passes=1]
  sg-keras projector --model_dir=DIR [--top=N]
  sg-keras evaluate (--model_dir=DIR | --vectors=FILE) --analogies=FILE[,…] --similarity=FILE[,…]
  sg-keras export (--model_dir=DIR | --vectors=FILE) --export_dir=saved_models/NAME

A user mistake prints ``error: …`` on one line and exits with status 2.
"""

import json
import os
import re
import signal
import sys

from absl import app, flags, logging

from sg_keras import process, training_flags
from sg_keras.errors import UsageError, flags_parser

FLAGS = flags.FLAGS

flags.DEFINE_list("corpus", None, "Corpus files (plain text or .gz), comma-separated; "
                  "default: text8, downloaded once into the Keras cache.")
flags.DEFINE_string("model_dir", None, "Directory of the model to train or use.")
flags.DEFINE_string("strategy", "default", "`train`: tf.distribute strategy: default, mirrored "
                    "(this machine's devices), multi_worker or parameter_server (a cluster "
                    "described by the TF_CONFIG environment variable; README: Scaling out).")
flags.DEFINE_integer("top", None, "`similar`: neighbours shown (default 10). `projector`: "
                     "the N most frequent words (default: all, at most 100,000).")
flags.DEFINE_list("probe_words", [], "`train`: words whose nearest neighbours are logged to "
                  "TensorBoard each epoch; default: the 21st to 25th most frequent words.")
flags.DEFINE_float("backup_interval", 60.0, "`train`: seconds between backups inside an "
                   "epoch (a backup is also taken after each epoch); a killed run resumes "
                   "from the last one. 0 = after epochs only.")
flags.DEFINE_list("eval_analogies", [], "Analogy files evaluated after each training epoch.")
flags.DEFINE_list("eval_similarity", [], "Word-pair files evaluated after each training epoch.")
flags.DEFINE_list("analogies", [], "Analogy files (questions-words or `a b c d` format).")
flags.DEFINE_list("similarity", [], "Word-pair files (WS-353, SimLex-999, MEN, RW, `w1 w2 score`).")
flags.DEFINE_string("vectors", None, "A word2vec text or binary file (or a fastText .bin) to "
                    "query, evaluate or export.")
flags.DEFINE_string("export_dir", None, "`export`: TF Serving model base path, e.g. "
                    "saved_models/NAME; each export adds the next numbered version.")
flags.DEFINE_integer("restrict_vocab", 30000, "Analogies consider only this many most "
                     "frequent words (word2vec.c's and gensim's 30000).")
flags.DEFINE_enum("method", "3cosadd", ["3cosadd", "3cosmul"], "Analogy scoring.")
flags.DEFINE_string("phrases", None, "`train`: a phrases file (`sg-keras phrases`): its "
                    "phrases are joined into words (new_york) before counting and training.")
flags.DEFINE_string("vocab", None, "`train`: a vocab.tsv (word<TAB>count, as train and "
                    "pipelines/beam_vocab.py write it): the vocabulary, its order and counts, "
                    "instead of counting the corpus's words; --min_count and "
                    "--max_vocab_size still apply.")
flags.DEFINE_string("output", None, "`phrases`: the phrases file to write.")
flags.DEFINE_list("threshold", ["100"], "`phrases`: word2phrase's score threshold, one per "
                  "pass (the last one repeats): e.g. 200,100 with --passes=2.")
flags.DEFINE_integer("passes", None, "`phrases`: passes over the corpus; phrases of up to "
                     "2^passes words form (default: one per --threshold).")
flags.DEFINE_boolean("doesnt_match", False, "`similar`: print the word that does not go "
                     "with the others (gensim's doesnt_match).")
flags.DEFINE_boolean("json", False, "`evaluate`: print one JSON object instead of tables.")


def _train(args):
    from sg_keras import data, strategies, training

    if args:
        raise UsageError(f"train takes no positional arguments, got {' '.join(args)}")
    continued = {}  # continuing a run: its settings are the defaults
    if FLAGS.init_from:
        from sg_keras import warm_start
        continued = warm_start.Start.read_settings(FLAGS.init_from)
    config = training.TrainConfig(
        corpus=FLAGS.corpus or [data.text8_path()], model_dir=FLAGS.model_dir,
        eval_analogies=FLAGS.eval_analogies, eval_similarity=FLAGS.eval_similarity,
        restrict_vocab=FLAGS.restrict_vocab, probe_words=FLAGS.probe_words,
        strategy=FLAGS.strategy, backup_interval=FLAGS.backup_interval,
        phrases=FLAGS.phrases or "", vocab=FLAGS.vocab or "",
        **training_flags.settings(defaults=continued))
    config.validate()
    training.train(config)
    if strategies.connect(config.strategy).is_chief:
        print(f"model written to {config.model_dir}")
    else:
        print(f"done: the chief wrote the model to {config.model_dir}")


def _similar(args):
    from sg_keras.word_vectors import parse_query

    word_vectors, normalize = _word_vectors()
    if not args:
        raise UsageError("similar needs at least one WORD or query (e.g. \"king - man + woman\")")
    top = 10 if FLAGS.top is None else FLAGS.top
    if top < 1:
        raise UsageError(f"--top must be at least 1, got {top}")
    if FLAGS.doesnt_match:
        words = [normalize(word) for word in args]
        if len(words) < 2:
            raise UsageError("--doesnt_match needs at least two words")
        _check_known(word_vectors, words)
        print(word_vectors.doesnt_match(words))
        return 0
    queries = []
    for arg in args:
        try:
            positive, negative = parse_query(arg)
        except ValueError as error:
            raise UsageError(str(error)) from None
        queries.append(([normalize(term) for term in positive],
                        [normalize(term) for term in negative]))
    _check_known(word_vectors, [word for query in queries for terms in query for word in terms])
    for positive, negative in queries:
        if len(positive) == 1 and not negative and not word_vectors.has_index_for(positive[0]):
            print(f"{positive[0]} (not in the vocabulary: from its character n-grams):")
        else:
            print(" - ".join([" + ".join(positive), *negative]) + ":")
        for neighbour, score in word_vectors.most_similar(positive, negative, topn=top):
            print(f"  {neighbour:<20} {score:.4f}")
    return 0


def _word_vectors():
    """(WordVectors of --model_dir or --vectors, the function that puts a queried word in
    the vocabulary's form: the model's tokenizer and phrases; a --vectors file's words
    are taken as they are)."""
    from sg_keras import text
    from sg_keras.model_dir import ModelDir
    from sg_keras.word_vectors import WordVectors

    _check_one_source()
    if FLAGS.vectors:
        return WordVectors.load(FLAGS.vectors), lambda word: word
    word_vectors = WordVectors.from_model_dir(FLAGS.model_dir)  # no model: a usage error
    model_dir = ModelDir(FLAGS.model_dir)
    tokenizer = model_dir.read_record()["settings"]["tokenizer"]
    phrase_table = model_dir.read_phrases()
    return word_vectors, lambda word: text.normalize_word(word, tokenizer, phrase_table)


def _check_one_source():
    if bool(FLAGS.model_dir) == bool(FLAGS.vectors):
        raise UsageError("give exactly one of --model_dir and --vectors")


def _check_known(word_vectors, words):
    unknown = list(dict.fromkeys(word for word in words if word not in word_vectors))
    if unknown:
        reason = " and has no character n-grams" if word_vectors.has_subwords else ""
        raise UsageError(f"not in the vocabulary{reason}: {', '.join(unknown)}")


def _pairs(args):
    from sg_keras import pairs, text

    if len(args) != 1:
        raise UsageError('pairs takes one TEXT argument, e.g. sg-keras pairs --window=2 "The quick brown fox"')
    if FLAGS.window < 1:
        raise UsageError(f"--window must be at least 1, got {FLAGS.window}")
    sample = FLAGS.sample or 0.0
    if sample < 0:
        raise UsageError(f"--sample must be at least 0, got {sample}")
    text.check_tokenizer(FLAGS.tokenizer)
    groups = pairs.explain_pairs(args[0], FLAGS.window, sample, bool(FLAGS.shrink_window),
                                 FLAGS.tokenizer, FLAGS.seed)
    width = max((len(centre) for centre, _ in groups), default=0)
    for centre, contexts in groups:
        print(f"{centre:<{width}}  " + " ".join(f"({centre}, {c})" for c in contexts))
    return 0


def _phrases(args):
    from sg_keras import data, phrases, text
    from sg_keras.corpus import Corpus, check_corpus_files

    if args:
        raise UsageError(f"phrases takes no positional arguments, got {' '.join(args)}")
    if not FLAGS.output:
        raise UsageError("--output is required")
    try:
        thresholds = [float(t) for t in FLAGS.threshold]
    except ValueError:
        raise UsageError(f"--threshold takes numbers, got {','.join(FLAGS.threshold)}") from None
    passes = len(thresholds) if FLAGS.passes is None else FLAGS.passes
    if passes < len(thresholds):
        raise UsageError(f"--passes={passes} is fewer than the {len(thresholds)} thresholds")
    thresholds += thresholds[-1:] * (passes - len(thresholds))
    phrases.check_settings(FLAGS.min_count, thresholds)
    text.check_tokenizer(FLAGS.tokenizer)
    paths = FLAGS.corpus or [data.text8_path()]
    check_corpus_files(paths)
    table = phrases.learn_phrases(Corpus(paths), FLAGS.tokenizer, FLAGS.min_count, thresholds)
    table.save(FLAGS.output)
    print(f"{len(table)} phrases in {passes} pass{'es' if passes > 1 else ''} written to "
          f"{FLAGS.output}")
    return 0


def _projector(args):
    from sg_keras import projector
    from sg_keras.model_dir import ModelDir

    if args:
        raise UsageError(f"projector takes no positional arguments, got {' '.join(args)}")
    if not FLAGS.model_dir:
        raise UsageError("--model_dir is required")
    if FLAGS.top is not None and FLAGS.top < 1:
        raise UsageError(f"--top must be at least 1, got {FLAGS.top}")
    model_dir = ModelDir(FLAGS.model_dir)
    trained = model_dir.load()
    run_dir = model_dir.projector_dir
    points = projector.write(run_dir, trained.vocab.words, trained.vocab.counts,
                             trained.model.word_vectors_tensor(), FLAGS.top)
    print(f"projector files for {points} words written to {run_dir}; view them with "
          f"tensorboard --logdir={os.path.dirname(run_dir)}")
    return 0


def _evaluate(args):
    from sg_keras import evaluation

    if args:
        raise UsageError(f"evaluate takes no positional arguments, got {' '.join(args)}")
    _check_one_source()
    if not FLAGS.analogies and not FLAGS.similarity:
        raise UsageError("nothing to evaluate: give --analogies and/or --similarity")
    if FLAGS.restrict_vocab < 1:
        raise UsageError(f"--restrict_vocab must be at least 1, got {FLAGS.restrict_vocab}")
    word_vectors, _ = _word_vectors()
    results = evaluation.evaluate(word_vectors, FLAGS.analogies, FLAGS.similarity,
                                  FLAGS.restrict_vocab, FLAGS.method)
    if FLAGS.json:
        print(json.dumps(results, indent=2))
    else:
        print(evaluation.format_results(results, FLAGS.method, FLAGS.restrict_vocab))
    return 0


def _export(args):
    from sg_keras import export, fasttext_format, text

    if args:
        raise UsageError(f"export takes no positional arguments, got {' '.join(args)}")
    if bool(FLAGS.model_dir) == bool(FLAGS.vectors):
        raise UsageError("give exactly one of --model_dir and --vectors")
    if not FLAGS.export_dir:
        raise UsageError("--export_dir is required, e.g. --export_dir=saved_models/NAME")
    if FLAGS.model_dir:
        path = export.export_trained(FLAGS.model_dir, FLAGS.export_dir)
    else:
        text.check_tokenizer(FLAGS.tokenizer)
        path = export.export_vectors(FLAGS.vectors, FLAGS.export_dir, FLAGS.tokenizer)
        if not fasttext_format.is_fasttext_model(FLAGS.vectors):
            print("no `context` signature: a word2vec file has no output layer")
    print(f"exported {path}")
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        given = f" {argv[1]!r}" if len(argv) > 1 else ""
        print(f"error: unknown command{given}: use one of {', '.join(COMMANDS)} "
              "(--help for flags)", file=sys.stderr)
        return 2
    command, args = argv[1], argv[2:]
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        process.import_tensorflow_quietly()
        status = COMMANDS[command](args)
        if Interrupted.received:  # raised where Python ignores exceptions (a weakref callback,
            return _interrupted(command, Interrupted.received)  # __del__): still reported
        return status
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a full disk, a file that went away, …: OS and TF errors
        if Interrupted.received:  # raised inside a C++ callback, the interruption comes out
            return _interrupted(command, Interrupted.received)  # re-typed (pybind11, TF)
        if not (isinstance(error, OSError) or _is_tensorflow_error(error)):
            raise
        logging.debug("%s failed", command, exc_info=True)
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(command, Interrupted.received or signal.SIGINT)
    finally:  # once the command is over, a signal ends the process as by default: raised
        for signum in (signal.SIGINT, signal.SIGTERM):  # in an exit-time weakref callback,
            signal.signal(signum, signal.SIG_DFL)       # Interrupted would only print there


def _interrupted(command, signum):
    if command == "train":
        print(f"interrupted: run the same command again to resume {FLAGS.model_dir} from "
              "its last backup", file=sys.stderr)
    else:
        print(f"interrupted: {command} did not finish", file=sys.stderr)
    return 128 + signum


def _is_tensorflow_error(error):
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(error, tf.errors.OpError)


def _one_line(error):
    """An OSError's or TensorFlow error's message on one line, without TF's graph prefix.

    (h5py's OSErrors hold line breaks inside their strerror: they are joined.)
    """
    if isinstance(error, OSError) and error.strerror:
        where = error.filename or ""
        message = f"{where}: {error.strerror}" if where else error.strerror
        return " ".join(line.strip() for line in message.splitlines())
    message = str(getattr(error, "message", error)).strip().splitlines()[0]
    return re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: the run stops where it is and can be resumed.

    `received` keeps the signal, because an exception raised while TensorFlow's C++ is calling
    back into Python (tracing a function) comes out as another type.
    """

    received = 0


def _interrupt(signum, frame):
    Interrupted.received = signum
    raise Interrupted()


COMMANDS = {"train": _train, "similar": _similar, "pairs": _pairs, "phrases": _phrases,
            "evaluate": _evaluate, "export": _export, "projector": _projector}


def run():
    """Console entry point."""
    process.freeze_objects_at_exit()
    logging.set_verbosity(logging.INFO)
    app.run(main, flags_parser=flags_parser(__doc__, [__name__, training_flags.__name__]))


if __name__ == "__main__":
    run()
