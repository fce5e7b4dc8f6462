import gzip
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from sg_keras import text
from sg_keras.errors import UsageError


def words(sentence, tokenizer="unicode"):
    return [w.decode() for w in text.tokenize(tf.constant([sentence]), tokenizer).flat_values.numpy()]


def test_unicode_tokenizer_normalises_and_drops_punctuation():
    assert words("The quick brown fox jumps over the lazy dog.") == \
        "the quick brown fox jumps over the lazy dog".split()
    assert words("SOVIET, Soviet; soviet!") == ["soviet"] * 3
    assert words("ﬁne ＦＵＬＬ") == ["fine", "full"]          # NFKC: ligature, full-width
    assert words("Straße «Москва» 1990") == ["strasse", "москва", "1990"]  # case folding
    assert words("don't\tstop\n") == ["don", "t", "stop"]


def test_whitespace_tokenizer_keeps_tokens_as_they_are():
    assert words("anarchism originated as a term", "whitespace") == \
        ["anarchism", "originated", "as", "a", "term"]
    assert words("Dog. cat", "whitespace") == ["Dog.", "cat"]


def test_whitespace_tokenizer_splits_on_unicode_spaces_without_stray_bytes():
    assert words("x\u00a0y x\u3000 z\u2003", "whitespace") == ["x", "y", "x", "z"]
    assert text.tokenize(tf.constant([b"\xff a\xc0 b", b"", b" \t\n"]), "whitespace").to_list() == \
        [["\ufffd".encode(), "a\ufffd".encode(), b"b"], [], []]


# Unicode's White_Space property (PropList.txt): the characters the whitespace tokenizer splits on.
WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"


def test_whitespace_tokenizer_splits_on_exactly_unicode_white_space():
    assert words("a" + "a".join(WHITE_SPACE) + "a", "whitespace") == ["a"] * (len(WHITE_SPACE) + 1)
    # Zero-width space, word joiner, Mongolian vowel separator and the ASCII
    # separator controls are not White_Space: they stay inside the word.
    for other in "\u200b\u2060\u180e\x1c\x1f":
        assert words(f"a{other}b", "whitespace") == [f"a{other}b"]


def test_whitespace_tokenizer_splits_where_tensorflow_text_does_for_every_code_point():
    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = tf.constant([f"a{chr(c)}b".encode() for c in code_points])
    ours = text.tokenize(texts, "whitespace").row_lengths().numpy()
    theirs = tf_text.WhitespaceTokenizer().split(texts).row_lengths().numpy()
    assert [hex(c) for c, a, b in zip(code_points, ours, theirs) if a != b] == []


def test_tokenize_replaces_invalid_utf8():
    tokens = text.tokenize(tf.constant([b"ok \xff\xfe bad"]), "unicode").flat_values.numpy()
    assert tokens[0] == b"ok" and tokens[-1] == b"bad"


def test_unknown_tokenizer_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown tokenizer 'nltk'"):
        text.check_tokenizer("nltk")


def read_all(corpus):
    return [s.decode() if isinstance(s, bytes) else s
            for block in corpus.sentence_blocks() for s in block]


def test_corpus_streams_lines_as_sentences_from_plain_and_gzip(tmp_path):
    plain = tmp_path / "a.txt"
    plain.write_text("one two\nthree\n\nfour five six\n", encoding="utf-8")
    packed = tmp_path / "b.txt.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as f:
        f.write("seven eight\nnine")
    corpus = text.Corpus([str(plain), str(packed)])
    assert read_all(corpus) == ["one two", "three", "", "four five six", "seven eight", "nine"]


def test_a_very_long_line_is_cut_at_whitespace_into_bounded_sentences(tmp_path):
    path = tmp_path / "long.txt"
    tokens = [f"w{i % 997}" for i in range(300_000)]  # one 1.8 MB line, like text8
    path.write_text(" ".join(tokens), encoding="utf-8")
    sentences = read_all(text.Corpus([str(path)]))
    assert len(sentences) > 1
    assert max(len(s) for s in sentences) <= text.MAX_SENTENCE_CHARS
    assert [t for s in sentences for t in s.split()] == tokens


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good words\nbad \xff\xfe bytes \xc3\n")
    corpus = text.Corpus([str(path)])
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
        text.check_corpus_files([str(path)])


# A pipeline freed only by the garbage collector, as an exception out of model.fit
# leaves it (a cycle through its traceback), while a tf.data thread is inside the
# corpus reader: before text.py collected such cycles at exit, the process hung in
# about half the runs (freed during interpreter shutdown, tf.data waited forever for
# the reader's thread, which Python no longer let take the GIL); hence three runs.
_PIPELINE_LEFT_TO_THE_COLLECTOR = textwrap.dedent("""
    import io, time
    import tensorflow as tf
    from sg_keras import text

    class SlowFile(io.BytesIO):
        def read(self, size=-1):
            if self.tell():
                time.sleep(2)  # releases the GIL, as a real read does
            return super().read(size)

    def start_pipeline():
        corpus = text.Corpus(["a"], opener=lambda path: SlowFile(b"one two\\n" * 100))
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
