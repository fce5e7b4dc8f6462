"""Phrase learning as Apache Beam pipelines: the phrases file that ``sg-keras phrases`` writes.

    python -m pipelines.beam_phrases --corpus=PATH[,PATH…] --output=PATH/phrases.tsv \
        [--tokenizer=unicode --min_count=5 --threshold=100[,…] --passes=N] [BEAM OPTIONS…]

One Beam pipeline per pass (a pass counts the text with the earlier passes' phrases
joined). Each file is read as pipelines/beam_vocab.py reads it, the blocks are spread over
the workers, and each block's words and bigrams are counted there with the same in-graph
function as ``sg-keras phrases`` (sg_keras.phrases.block_counts); the summed counts are
scored by sg_keras.phrases.score_pass, so the file is byte for byte the one
``sg-keras phrases`` writes. Needs the ``beam`` extra.
"""

import sys

import apache_beam as beam
from absl import app, flags
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.beam_vocab import ReadBlocks, corpus_files
from sg_keras import phrases, text
from sg_keras.errors import UsageError

FLAGS = flags.FLAGS


_BIGRAM = " "  # joins a bigram's words in its key: no token holds a space


class CountPassKeys(beam.DoFn):
    """A block → (key, count) for each word and bigram ``a b`` of the block, and ("", tokens).

    The earlier passes' phrases (PhrasePass records) are joined first; the
    PhraseTable's TensorFlow tables are built on the worker (``setup``).
    """

    def __init__(self, tokenizer, min_count, passes):
        self.tokenizer, self.min_count, self.passes = tokenizer, min_count, passes

    def setup(self):
        table = phrases.PhraseTable(self.tokenizer, self.min_count, self.passes)
        self.count_block = phrases.block_counts(table)

    def process(self, block):
        import tensorflow as tf

        _, sentences = block
        words, counts, bigrams, bigram_counts, tokens = (
            x.numpy() for x in self.count_block(tf.constant(sentences, tf.string)))
        words = [word.decode("utf-8") for word in words.tolist()]
        yield "", int(tokens)  # no key is empty: the tokens counted
        yield from zip(words, counts.tolist())
        for (first, second), count in zip(bigrams.tolist(), bigram_counts.tolist()):
            yield words[first] + _BIGRAM + words[second], count


def learn_pass(paths, tokenizer, min_count, threshold, passes, counts_path, beam_args):
    """Runs one pass's pipeline, which writes the keys counted more than min_count times
    (``key<TAB>count``; the empty key: the tokens) to ``counts_path``; returns the pass's
    PhrasePass, scored from that file (which it then deletes)."""
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
        _ = (pipeline
             | "Files" >> beam.Create(list(enumerate(paths)))
             | "ReadBlocks" >> beam.ParDo(ReadBlocks())
             | "Spread" >> beam.Reshuffle()
             | "CountBlocks" >> beam.ParDo(CountPassKeys(tokenizer, min_count, passes))
             | "Count" >> beam.CombinePerKey(sum)
             | "Frequent" >> beam.Filter(lambda entry: entry[0] == "" or entry[1] > min_count)
             | "Format" >> beam.MapTuple(lambda key, count: f"{key}\t{count}")
             | "Write" >> beam.io.WriteToText(counts_path, shard_name_template="",
                                              num_shards=1))
    try:
        with FileSystems.open(counts_path) as f:
            rows = [line.split("\t") for line in f.read().decode("utf-8").splitlines()]
    finally:
        FileSystems.delete([counts_path])
    entries = {key: int(count) for key, count in rows}
    tokens = entries.pop("", 0)
    if not tokens:
        raise UsageError(f"the corpus has no words: {', '.join(paths)}")
    words = [key for key in entries if _BIGRAM not in key]
    index = {word: i for i, word in enumerate(words)}
    bigrams = [key.split(_BIGRAM) for key in entries if _BIGRAM in key]
    return phrases.score_pass(words, [entries[word] for word in words],
                              [[index[first], index[second]] for first, second in bigrams],
                              [entries[_BIGRAM.join(pair)] for pair in bigrams], tokens,
                              min_count, threshold)


def learn_phrases(paths, output, tokenizer="unicode", min_count=5, thresholds=(100.0,),
                  beam_args=()):
    """Runs a pipeline per pass (DirectRunner unless ``beam_args`` say otherwise) and
    writes the phrases file to ``output``; returns the PhraseTable."""
    text.check_tokenizer(tokenizer)
    phrases.check_settings(min_count, thresholds)
    if not paths:
        raise UsageError("no corpus given")
    files = corpus_files(paths)
    passes = []
    for number, threshold in enumerate(thresholds, 1):
        passes.append(learn_pass(files, tokenizer, min_count, threshold, passes,
                                 f"{output}.pass-{number}-counts.tmp", beam_args))
    table = phrases.PhraseTable(tokenizer, min_count, passes)
    table.save(output)
    return table


def main(argv):
    try:
        if not FLAGS.output:
            raise UsageError("--output is required, e.g. --output=runs/phrases.tsv")
        try:
            thresholds = [float(t) for t in FLAGS.threshold]
        except ValueError:
            raise UsageError(f"--threshold takes numbers, got {','.join(FLAGS.threshold)}") \
                from None
        passes = FLAGS.passes or len(thresholds)
        if passes < len(thresholds):
            raise UsageError(f"--passes={passes} is fewer than the {len(thresholds)} thresholds")
        thresholds += thresholds[-1:] * (passes - len(thresholds))
        table = learn_phrases(FLAGS.corpus or [], FLAGS.output, FLAGS.tokenizer,
                              FLAGS.min_count, thresholds, argv[1:])
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(table)} phrases written to {FLAGS.output}")
    return 0


def run():
    """Command-line entry point; flags not defined here are Beam pipeline options."""
    flags.DEFINE_list("corpus", None, "Corpus files (plain text or gzip), comma-separated.")
    flags.DEFINE_string("output", None, "Where to write the phrases file.")
    flags.DEFINE_string("tokenizer", "unicode", "unicode or whitespace, as sg-keras phrases.")
    flags.DEFINE_integer("min_count", 5, "word2phrase's min_count.")
    flags.DEFINE_list("threshold", ["100"], "Score threshold, one per pass (the last repeats).")
    flags.DEFINE_integer("passes", 0, "Passes (default: one per --threshold).")
    app.run(main, flags_parser=_parse_flags)


def _parse_flags(argv):
    try:
        return FLAGS(argv, known_only=True)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    from pipelines import beam_phrases  # the DoFns by their importable names, for remote workers

    beam_phrases.run()
