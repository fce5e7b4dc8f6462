"""Property-based tests (hypothesis): the tokenizer, the pair generator against the
tutorial's sliding window, and the serving signatures on arbitrary strings and k."""

import collections

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sg_keras import export, pairs, text
from sg_keras.vocab import Vocabulary

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
# Text with letters of several scripts, digits, punctuation, whitespace of every kind,
# combining marks and unpaired surrogates' bytes (invalid UTF-8).
TEXTS = st.one_of(st.text(), st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")))
SPACES = " \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def tokens(value, tokenizer):
    raw = tf.constant([text.utf8_bytes(value)])
    return [t.decode("utf-8") for t in text.tokenize(raw, tokenizer).flat_values.numpy()]


@SETTINGS
@given(TEXTS, st.sampled_from(text.TOKENIZERS))
def test_tokens_are_nonempty_valid_and_stable(value, tokenizer):
    words = tokens(value, tokenizer)
    assert all(words)
    assert not any(c in SPACES for word in words for c in word)
    # Tokenizing the tokens again gives them back: the serving graph's lookup key of a
    # vocabulary word is the word itself.
    assert tokens(" ".join(words), tokenizer) == words


@SETTINGS
@given(st.lists(st.text(alphabet=st.characters(whitelist_categories=["Ll", "Nd"]),
                        min_size=1, max_size=3), max_size=30))
def test_whitespace_tokens_are_the_words_between_whitespace(words):
    assert tokens(" ".join(words), "whitespace") == words


def tutorial_pairs(sentences, window):
    """The skip-gram tutorial's pairs: each word with every word at most `window` away."""
    found = collections.Counter()
    for sentence in sentences:
        for i, centre in enumerate(sentence):
            for j in range(max(0, i - window), min(len(sentence), i + window + 1)):
                if j != i:
                    found[(centre, sentence[j])] += 1
    return found


@SETTINGS
@given(st.lists(st.lists(st.sampled_from("abcdefg"), max_size=12), min_size=1, max_size=8),
       st.integers(1, 6), st.integers(0, 2 ** 31 - 1))
def test_pairs_are_the_tutorials_sliding_window(sentences, window, seed):
    words = sorted({w for sentence in sentences for w in sentence} | {"a", "b"})
    vocab = Vocabulary.from_counts(words, [1] * len(words), min_count=1)
    generator = pairs.PairGenerator(vocab, window, sample=0, shrink_window=False,
                                    tokenizer="whitespace")
    centres, contexts = generator.block_pairs(
        tf.constant([" ".join(s) for s in sentences]), tf.constant([seed, 0], tf.int64))
    got = collections.Counter((vocab.words[c], vocab.words[x])
                              for c, x in zip(centres.numpy(), contexts.numpy()))
    assert got == tutorial_pairs(sentences, window)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    rng = np.random.default_rng(0)
    words = ["soviet", "union", "moscow", "king", "queen", "new york", "café", "3"]
    vectors = rng.normal(size=(len(words), 4)).astype(np.float32)
    path = export.export(tmp_path_factory.mktemp("served") / "words", words, vectors,
                         "unicode", rng.normal(size=(len(words), 4)).astype(np.float32))
    return tf.saved_model.load(path), len(words)


QUERIES = st.lists(TEXTS, max_size=5).map(lambda values: [text.utf8_bytes(v) for v in values])


@SETTINGS
@given(QUERIES)
def test_lookup_answers_any_strings(served, queries):
    model, _ = served
    result = model.signatures["lookup"](words=tf.constant(queries, tf.string))
    assert result["embeddings"].shape == (len(queries), 4)
    assert np.isfinite(result["embeddings"].numpy()).all()
    known = result["in_vocabulary"].numpy()
    assert not result["embeddings"].numpy()[~known].any()  # unknown words: zeros


@SETTINGS
@given(QUERIES, st.integers(-3, 12), st.sampled_from(["nearest", "context"]))
def test_nearest_and_context_answer_or_refuse_k(served, queries, k, signature):
    model, vocab_size = served
    largest = vocab_size - 1 if signature == "nearest" else vocab_size
    function = model.signatures[signature]
    arguments = dict(words=tf.constant(queries, tf.string), k=tf.constant(k, tf.int32))
    if 1 <= k <= largest:
        result = function(**arguments)
        scores = result["scores" if signature == "nearest" else "probabilities"].numpy()
        assert scores.shape == (len(queries), k) and np.isfinite(scores).all()
    else:
        with pytest.raises(tf.errors.InvalidArgumentError, match="k must be"):
            function(**arguments)
