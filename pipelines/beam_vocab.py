"""Vocabulary counting as an Apache Beam pipeline: the ``vocab.tsv`` that ``sg-keras train`` writes.

    python -m pipelines.beam_vocab --corpus=PATH[,PATH…] --output=PATH/vocab.tsv \
        [--tokenizer=unicode --min_count=5 --max_vocab_size=0] [BEAM OPTIONS…]

Runs on Beam's DirectRunner unless Beam options choose another runner; the pipeline is
the same on Dataflow, Flink or Spark (README: Scaling out). Paths may be on any Beam
filesystem (local, ``gs://``, ``hdfs://``, ``s3://``); a path with ``*``, ``?`` or ``[``
stands for the files it matches, in sorted order. Needs the ``beam`` extra
(``pip install -e .[beam]``).

Each file is read by one worker as ``sg_keras.corpus.Corpus`` reads it (the same sentences,
invalid UTF-8 replaced the same way), in blocks of sentences; the blocks are spread over
the workers and tokenised there with ``sg_keras.text.tokenize``. Each word is counted
with the position of its first occurrence (file, block, order of first occurrence in
the block), so ``Vocabulary.from_counts`` orders the words as ``sg-keras train`` does —
by count, ties in order of first occurrence — and they are written byte for byte as
``Vocabulary.save`` writes them.
"""

import sys

import apache_beam as beam
from absl import app, flags
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from sg_keras import text
from sg_keras.corpus import Corpus
from sg_keras.errors import UsageError
from sg_keras.vocab import Vocabulary

FLAGS = flags.FLAGS


def open_uncompressed(path):
    """A file on any Beam filesystem, opened for reading as it is stored."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class ReadBlocks(beam.DoFn):
    """(file index, path) → ((file index, block index), sentences) for each block of the file."""

    def process(self, indexed_path):
        file_index, path = indexed_path
        corpus = Corpus([path], opener=open_uncompressed)
        for block_index, block in enumerate(corpus.sentence_blocks()):
            yield (file_index, block_index), [str(sentence) for sentence in block]
        beam.metrics.Metrics.counter("sg_keras", "invalid_utf8").inc(corpus.invalid_utf8)


class CountBlock(beam.DoFn):
    """A block → (word, (count, first position)) for each distinct word of the block.

    The position is (file index, block index, rank of the word's first occurrence
    in the block), which orders first occurrences as the corpus stream does.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def process(self, block):
        import tensorflow as tf

        (file_index, block_index), sentences = block
        words = text.tokenize(tf.constant(sentences, tf.string), self.tokenizer)
        unique, _, counts = tf.unique_with_counts(words.flat_values)
        beam.metrics.Metrics.counter("sg_keras", "tokens").inc(int(tf.reduce_sum(counts)))
        for rank, (word, count) in enumerate(zip(unique.numpy(), counts.numpy())):
            yield word, (int(count), (file_index, block_index, rank))


class SumCountsKeepFirst(beam.CombineFn):
    """(count, position) pairs → (total count, earliest position)."""

    def create_accumulator(self):
        return 0, None

    def add_input(self, accumulator, value):
        return self.merge_accumulators([accumulator, value])

    def merge_accumulators(self, accumulators):
        total, first = 0, None
        for count, position in accumulators:
            total += count
            if position is not None and (first is None or position < first):
                first = position
        return total, first

    def extract_output(self, accumulator):
        return accumulator


def vocabulary_file(entries, min_count, max_vocab_size):
    """vocab.tsv's content from (word bytes, (count, first position)) entries.

    Vocabulary.from_counts orders and cuts them; the last line ends without a
    newline (WriteToText adds it).
    """
    vocab = Vocabulary.from_counts([word.decode("utf-8") for word, _ in entries],
                                   [count for _, (count, _) in entries], min_count,
                                   max_vocab_size, first_seen=[first for _, (_, first) in entries])
    return vocab.to_tsv()[:-1]


def corpus_files(paths):
    """The files of ``paths``: each glob pattern becomes its matches, sorted; UsageError if none."""
    files = []
    for path in paths:
        if any(c in path for c in "*?["):
            matched = FileSystems.match([path])[0].metadata_list
            files += sorted(metadata.path for metadata in matched)
            if not matched:
                raise UsageError(f"no corpus file matches {path}")
        elif FileSystems.exists(path):
            files.append(path)
        else:
            raise UsageError(f"corpus file not found: {path}")
    return files


def build(pipeline, paths, output, tokenizer="unicode", min_count=5, max_vocab_size=0):
    """Adds the counting steps to ``pipeline``: the corpus ``paths`` → ``output`` (vocab.tsv)."""
    return (pipeline
            | "Files" >> beam.Create(list(enumerate(paths)))
            | "ReadBlocks" >> beam.ParDo(ReadBlocks())
            | "Spread" >> beam.Reshuffle()
            | "CountBlocks" >> beam.ParDo(CountBlock(tokenizer))
            | "Count" >> beam.CombinePerKey(SumCountsKeepFirst())
            | "MinCount" >> beam.Filter(lambda entry: entry[1][0] >= min_count)
            | "Gather" >> beam.combiners.ToList()
            | "Order" >> beam.Map(vocabulary_file, min_count, max_vocab_size)
            | "Write" >> beam.io.WriteToText(output, shard_name_template="", num_shards=1))


def count_vocabulary(paths, output, tokenizer="unicode", min_count=5, max_vocab_size=0,
                     beam_args=()):
    """Runs the pipeline to completion (DirectRunner unless ``beam_args`` say otherwise)."""
    text.check_tokenizer(tokenizer)
    if not paths:
        raise UsageError("no corpus given")
    if min_count < 1:
        raise UsageError(f"--min_count must be at least 1, got {min_count}")
    if max_vocab_size < 0:
        raise UsageError(f"--max_vocab_size must be at least 0, got {max_vocab_size}")
    files = corpus_files(paths)
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
        build(pipeline, files, output, tokenizer, min_count, max_vocab_size)


def main(argv):
    try:
        if not FLAGS.output:
            raise UsageError("--output is required, e.g. --output=runs/vocab.tsv")
        count_vocabulary(FLAGS.corpus or [], FLAGS.output, FLAGS.tokenizer, FLAGS.min_count,
                         FLAGS.max_vocab_size, argv[1:])
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"vocabulary written to {FLAGS.output}")
    return 0


def run():
    """Command-line entry point; flags not defined here are Beam pipeline options."""
    flags.DEFINE_list("corpus", None, "Corpus files (plain text or gzip), comma-separated.")
    flags.DEFINE_string("output", None, "Where to write vocab.tsv.")
    flags.DEFINE_string("tokenizer", "unicode", "unicode or whitespace, as sg-keras train.")
    flags.DEFINE_integer("min_count", 5, "Drop words seen fewer times.")
    flags.DEFINE_integer("max_vocab_size", 0, "Keep at most this many words (0 = all).")
    app.run(main, flags_parser=_parse_flags)


def _parse_flags(argv):
    try:
        return FLAGS(argv, known_only=True)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    from pipelines import beam_vocab  # the DoFns by their importable names, for remote workers

    beam_vocab.run()
