"""Text → words: the in-graph tokeniser that training, evaluation and serving share.

:func:`tokenize` is a pure TensorFlow function (tensorflow-text ops for ``unicode``,
core ops for ``whitespace``), so the serving SavedModel runs exactly the
normalisation training ran. Reading corpus files is sg_keras.corpus's job.
"""

import tensorflow as tf

from sg_keras.errors import UsageError

TOKENIZERS = ("unicode", "whitespace")

# Runs of letters, combining marks and digits are words; anything else separates.
_NON_WORD = r"[^\p{L}\p{M}\p{N}]+"

# The characters with Unicode's White_Space property beyond ASCII's (which
# tf.strings.split splits on): NEL, NBSP, Ogham space, the General Punctuation
# spaces, line and paragraph separators, narrow NBSP, medium math space, ideographic space.
_NON_ASCII_SPACE = (r"[\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}"
                    r"\x{3000}]")


def replace_invalid_utf8(texts):
    """Replaces invalid UTF-8 byte sequences by U+FFFD, in-graph (as the corpus reader does)."""
    return tf.strings.unicode_transcode(
        texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)


def tokenize(texts, tokenizer="unicode", valid_utf8=False):
    """Normalises and splits a 1-D string tensor into words (a RaggedTensor).

    ``unicode``: invalid UTF-8 replaced by U+FFFD, NFKC, case folding, and
    words are runs of letters, marks and digits (punctuation dropped).
    ``whitespace``: invalid UTF-8 replaced, then split on Unicode whitespace
    only, for pre-tokenised corpora such as text8. ``valid_utf8``: the texts are
    known to be valid UTF-8 (what the corpus readers yield), so the replacement
    pass is skipped.

    Example:

    >>> tokenize(["The lazy dog."]).to_list()
    [[b'the', b'lazy', b'dog']]
    >>> tokenize(["The lazy dog."], "whitespace").to_list()
    [[b'The', b'lazy', b'dog.']]
    """
    if not valid_utf8:
        texts = replace_invalid_utf8(texts)
    if tokenizer == "whitespace":
        # Core TF ops only: TF Serving runs this function too.
        return tf.strings.split(tf.strings.regex_replace(texts, _NON_ASCII_SPACE, " "))
    # Imported here, not with the module: a process that never tokenises this way
    # (--tokenizer=whitespace) saves TF Text's memory and its import time.
    import tensorflow_text as tf_text

    texts = tf_text.case_fold_utf8(tf_text.normalize_utf8(texts, "NFKC"))
    return tf_text.regex_split(texts, _NON_WORD, keep_delim_regex_pattern="")


def normalize_word(word, tokenizer, phrases=None):
    """``word`` as the vocabulary holds it: its one token, or the word itself if it has
    no token or several (``CAT`` → ``cat`` with the ``unicode`` tokeniser); with
    ``phrases`` (a sg_keras.phrases.PhraseTable) its tokens joined where they form one
    (``New York`` → ``new_york``).

    Example:

    >>> normalize_word("Soviet", "unicode")
    'soviet'
    """
    tokens = tokenize(tf.constant([utf8_bytes(word)]), tokenizer)
    if phrases is not None:
        tokens = phrases.join(tokens)
    tokens = tokens.flat_values.numpy()
    return tokens[0].decode("utf-8") if len(tokens) == 1 else word


def utf8_bytes(string):
    """``string`` encoded as UTF-8, with the bytes of a command-line argument that were
    not valid UTF-8 (Python's surrogate escapes) restored, for the tokenizer to replace."""
    return string.encode("utf-8", errors="surrogateescape")


def check_tokenizer(tokenizer):
    """Raises UsageError unless ``tokenizer`` is one of TOKENIZERS."""
    if tokenizer not in TOKENIZERS:
        raise UsageError(
            f"unknown tokenizer {tokenizer!r}: choose one of {', '.join(TOKENIZERS)}")
