"""Corpus files → sentences: the local reader (Corpus), the cluster reader (ShardedCorpus)
and the one rule they share (a line; more than MAX_SENTENCE_WORDS words cut, as gensim cuts)."""

import gzip
import re
import subprocess
import sys
import textwrap

import pytest

from sg_keras import corpus as corpus_module
from sg_keras.corpus import Corpus, ShardedCorpus, check_corpus_files, cut_sentences
from sg_keras.errors import UsageError


def read_all(corpus):
    return [s.decode() if isinstance(s, bytes) else s
            for block in corpus.sentence_blocks() for s in block]


def ascii_words(sentence):
    """The words of a sentence split at ASCII whitespace (what the cut rule counts)."""
    return re.findall(r"[^ \t\n\v\f\r]+", sentence)


def test_corpus_streams_lines_as_sentences_from_plain_and_gzip(tmp_path):
    plain = tmp_path / "a.txt"
    plain.write_text("one two\nthree\n\nfour five six\n", encoding="utf-8")
    packed = tmp_path / "b.txt.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as f:
        f.write("seven eight\nnine")
    corpus = Corpus([str(plain), str(packed)])
    assert read_all(corpus) == ["one two", "three", "", "four five six", "seven eight", "nine"]


def test_a_very_long_line_is_cut_after_every_10000th_word(tmp_path):
    path = tmp_path / "long.txt"
    tokens = [f"w{i % 997}" for i in range(300_000)]  # one 1.8 MB line, like text8
    path.write_text(" ".join(tokens), encoding="utf-8")
    sentences = read_all(Corpus([str(path)]))
    assert corpus_module.MAX_SENTENCE_WORDS == 10_000  # gensim's max_sentence_length
    assert [ascii_words(s) for s in sentences] == [tokens[i:i + 10_000]
                                                   for i in range(0, 300_000, 10_000)]


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good words\nbad \xff\xfe bytes \xc3\n")
    corpus = Corpus([str(path)])
    assert read_all(corpus) == ["good words", "bad \ufffd\ufffd bytes \ufffd"]
    assert corpus.invalid_utf8 == 3


@pytest.mark.parametrize("content, message", [
    (None, "corpus file not found"),
    (b"\x00\x01\x02binary\x00", "looks binary"),
    (bytes(range(128, 256)) * 50, "looks binary"),
])
def test_check_corpus_files_rejects_missing_and_binary_files(tmp_path, content, message):
    path = tmp_path / "corpus"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        check_corpus_files([str(path)])


def test_check_corpus_files_accepts_gzip_by_content_and_needs_a_corpus(tmp_path):
    path = tmp_path / "corpus"  # no .gz suffix: the content decides
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("plain words " * 1000)
    check_corpus_files([str(path)])
    with pytest.raises(UsageError, match="no corpus given"):
        check_corpus_files([])


# cut_sentences, by hand: pieces of at most max_words words (gensim's rule), cut at the
# whitespace after a word; complete=False keeps back what may still go on.
@pytest.mark.parametrize("line, max_words, complete, expected", [
    ("a b c d e", 2, True, (["a b ", "c d ", "e"], "")),
    ("a b c d e", 2, False, (["a b ", "c d "], "e")),
    ("a b c d", 2, True, (["a b ", "c d"], "")),
    ("a b c d", 2, False, (["a b "], "c d")),       # "d" may go on in the next block
    ("a b c d ", 2, False, (["a b "], "c d ")),     # so may the whitespace after it
    ("a b c d e ", 2, False, (["a b ", "c d "], "e ")),
    ("  a\tb \r\n c  d\te", 2, True, (["  a\tb \r\n ", "c  d\t", "e"], "")),
    ("  a\tb \r\n c  d\te", 2, False, (["  a\tb \r\n ", "c  d\t"], "e")),
    ("one two three four five six seven", 3, True,
     (["one two three ", "four five six ", "seven"], "")),
    ("a b c d e f   ", 3, True, (["a b c ", "d e f   "], "")),  # no empty sentence after
    ("straße café naïve", 1, True, (["straße ", "café ", "naïve"], "")),
    ("a b", 2, True, (["a b"], "")),                 # short lines stay whole
    ("a b", 2, False, ([], "a b")),
    ("", 2, True, ([""], "")),
    ("          ", 2, True, (["          "], "")),  # only whitespace: one (empty) sentence
    ("          ", 2, False, ([], "          ")),  # words may follow
    ("          x", 2, False, ([], "          x")),
])
def test_cut_sentences_examples(line, max_words, complete, expected):
    assert cut_sentences(line, max_words, complete) == expected
    sentences, rest = expected
    assert "".join(sentences) + rest == line  # nothing lost, nothing added


LONG_LINES = [
    "one two three four five six seven eight nine",
    "\tlead\t\ttabs  and   spaces here\tx y\r",     # the \r of a \r\n line ending
    "",
    "short line\r",
    "    \t   \t   ",
    "a b c d",
    "a b c d e f g h   ",
    "\v\fform\vfeed\fwords here and more",
    "Straße café naïve ünïcödé 東京 words of many bytes",
    "exactly four words  ",
]


@pytest.mark.parametrize("block_chars", [7, 256 * 1024])
def test_local_and_cluster_readers_yield_the_same_sentences(tmp_path, monkeypatch,
                                                            block_chars):
    """Long lines, tabs, runs of spaces, \\r\\n, empty lines, gzip and invalid UTF-8."""
    monkeypatch.setattr(corpus_module, "MAX_SENTENCE_WORDS", 4)
    monkeypatch.setattr(corpus_module, "BLOCK_CHARS", block_chars)
    plain = tmp_path / "a.txt"
    plain.write_bytes("\n".join(LONG_LINES).encode() + b"\nlast line has no newline x y z")
    crlf = tmp_path / "b.txt"
    crlf.write_bytes("\r\n".join(LONG_LINES).encode() + b"\r\n")
    packed = tmp_path / "c.corpus"  # gzip recognised by content, not by name
    with gzip.open(packed, "wb") as f:
        f.write("\n".join(reversed(LONG_LINES)).encode() + b"\n\n\n")
    invalid = tmp_path / "d.txt"
    invalid_lines = [b"bad \xff\xfe utf \xe2\x82 8 \xed\xa0\x80 x \xc3", b"\xc0\xaf a b c d e"]
    invalid.write_bytes(b"\n".join(invalid_lines))
    paths = [str(plain), str(crlf), str(packed), str(invalid)]
    lines = [*LONG_LINES, "last line has no newline x y z", *LONG_LINES,
             *reversed(LONG_LINES), "", "",
             *(line.decode("utf-8", errors="replace") for line in invalid_lines)]
    # gensim's rule: a line's words in pieces of 4; a line of no word is one empty sentence.
    expected = []
    for line in lines:
        words = ascii_words(line)
        expected += [words[i:i + 4] for i in range(0, len(words), 4)] or [[]]

    local = [ascii_words(s) for s in read_all(Corpus(paths))]
    cluster = ShardedCorpus(paths, num_shards=1, index=0, sentences_per_block=3)
    remote = [ascii_words(s.decode()) for block in cluster.dataset().as_numpy_iterator()
              for s in block]
    assert local == expected
    assert remote == expected


@pytest.mark.parametrize("block_chars", [1, 2, 3, 5, 8, 13, 64])
def test_a_long_line_streamed_in_small_blocks_is_cut_as_when_read_whole(
        tmp_path, monkeypatch, block_chars):
    monkeypatch.setattr(corpus_module, "MAX_SENTENCE_WORDS", 4)
    words = ["a", "bb", "ccc", "Straße", "東京", "dddd", "é"] * 9
    spaces = [" ", "\t", "  ", " \t ", "\r", "   \v"]
    line = "  " + "".join(w + spaces[i % len(spaces)] for i, w in enumerate(words)) + "end"
    path = tmp_path / "long.txt"
    path.write_text(line + "\nnext line\n", encoding="utf-8")
    whole = cut_sentences(line, 4)[0]
    assert len(whole) == (len(words) + 1 + 3) // 4
    monkeypatch.setattr(corpus_module, "BLOCK_CHARS", block_chars)
    assert list(Corpus([str(path)]).sentences()) == [*whole, "next line"]


def test_an_unfinished_line_of_giant_words_is_cut_where_it_stands(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "BLOCK_CHARS", 16)
    monkeypatch.setattr(corpus_module, "MAX_PENDING_CHARS", 40)
    path = tmp_path / "giant.txt"
    path.write_text("x" * 100 + " y\nz\n", encoding="utf-8")
    sentences = list(Corpus([str(path)]).sentences())
    assert "".join(sentences[:-1]) == "x" * 100 + " y" and sentences[-1] == "z"
    assert len(sentences) > 2 and max(len(s) for s in sentences) <= 40 + 16


# A pipeline freed only by the garbage collector, as an exception out of the training loop
# leaves it (a cycle through its traceback), while a tf.data thread is inside the
# corpus reader: before the reader collected such cycles at exit
# (process.collect_cycles_at_exit), the process hung in about half the runs (freed
# during interpreter shutdown, tf.data waited forever for the reader's thread, which
# Python no longer let take the GIL); hence three runs.
_PIPELINE_LEFT_TO_THE_COLLECTOR = textwrap.dedent("""
    import io, time
    import tensorflow as tf
    from sg_keras.corpus import Corpus

    class SlowFile(io.BytesIO):
        def read(self, size=-1):
            if self.tell():
                time.sleep(2)  # releases the GIL, as a real read does
            return super().read(size)

    def start_pipeline():
        corpus = Corpus(["a"], opener=lambda path: SlowFile(b"one two\\n" * 100))
        iterator = iter(corpus.dataset().repeat().map(tf.strings.length, num_parallel_calls=2)
                        .prefetch(2))
        next(iterator)  # a tf.data thread is now sleeping in the corpus's second read
        cycle = [iterator]
        cycle.append(cycle)

    start_pipeline()
    print("exiting")
""")


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_a_pipeline_left_to_the_garbage_collector_lets_the_process_exit(attempt):
    result = subprocess.run([sys.executable, "-c", _PIPELINE_LEFT_TO_THE_COLLECTOR],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "exiting\n"
