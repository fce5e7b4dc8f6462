"""Checks on the public benchmark data beside the repository (../shared/data)."""

import hashlib

from conftest import shared_file
from sg_keras.corpus import Corpus
from sg_keras.vocab import Vocabulary, count_words

WIKI10_SHA256 = "9eadbb92e4e78c92958fe562d26004c2ba971f7d27fa9fc33984de1f86c17d78"


def test_wiki10_vocabulary_matches_the_published_counts():
    path = shared_file("wiki10.text8.txt.gz")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == WIKI10_SHA256
    words, word_counts, counts = count_words(Corpus([str(path)]), "whitespace")
    assert counts.tokens == 10_167_802 and counts.invalid_utf8 == 0
    assert word_counts.sum() == counts.tokens and len(set(words)) == len(words)
    vocab = Vocabulary.from_counts(words, word_counts, min_count=5)
    # Figures from shared/data/README.md: 58,508 words with min_count 5, covering 9,925,238 tokens.
    assert (len(vocab), vocab.total) == (58_508, 9_925_238)
    assert vocab.words[0] == "the" and all(vocab.counts[:-1] >= vocab.counts[1:])
