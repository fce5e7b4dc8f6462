"""The tokeniser: text → words, in-graph (sg_keras.text). Corpus files: test_corpus.py."""

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
    # As Python's decoder replaces them (the local corpus reader's way).
    invalid = [b"a \xff b", b"\xe2\x82 x", b"\xed\xa0\x80", b"\xc0\xaf", b"ok \xe2\x82\xac", b"\xc3"]
    assert [t.decode() for t in text.replace_invalid_utf8(tf.constant(invalid)).numpy()] == \
        [b.decode("utf-8", errors="replace") for b in invalid]


def test_normalize_word_is_the_vocabularys_form_of_a_word():
    assert text.normalize_word("Soviet", "unicode") == "soviet"
    assert text.normalize_word("Soviet", "whitespace") == "Soviet"
    assert text.normalize_word("New York", "unicode") == "New York"  # two tokens: as it is
    assert text.normalize_word("...", "unicode") == "..."  # no token: as it is


def test_unknown_tokenizer_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown tokenizer 'nltk'"):
        text.check_tokenizer("nltk")
