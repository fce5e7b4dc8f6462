"""gensim's Phrases with word2phrase's scorer (the peer of `sg-keras phrases`), as a process.

python benchmarks/gensim_phrases.py CORPUS OUT_TSV MIN_COUNT THRESHOLD

Writes ``phrase<TAB>score`` lines: gensim's ``export_phrases()`` after its learning pass.
"""

import sys

from gensim.models.phrases import Phrases
from gensim.models.word2vec import LineSentence


def word2phrase_scorer(worda_count, wordb_count, bigram_count, len_vocab, min_count,
                       corpus_word_count):
    """word2phrase's score: (count(a b) − min_count) / (count(a) · count(b)) · total words."""
    return (bigram_count - min_count) / (worda_count * wordb_count) * corpus_word_count


def main(corpus, out, min_count, threshold):
    model = Phrases(LineSentence(corpus), min_count=int(min_count), threshold=float(threshold),
                    delimiter="_", scoring=word2phrase_scorer)
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(f"{phrase}\t{score!r}\n" for phrase, score in model.export_phrases().items())


if __name__ == "__main__":
    main(*sys.argv[1:])
