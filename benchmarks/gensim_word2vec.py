"""gensim's skip-gram (the peer the benchmark compares against), as a separate process.

python benchmarks/gensim_word2vec.py CORPUS OUT_VECTORS DIM WINDOW NEGATIVE SAMPLE MIN_COUNT EPOCHS WORKERS
"""

import sys

from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence


def main(corpus, out, dim, window, negative, sample, min_count, epochs, workers):
    model = Word2Vec(LineSentence(corpus), sg=1, vector_size=int(dim), window=int(window),
                     negative=int(negative), sample=float(sample), min_count=int(min_count),
                     epochs=int(epochs), workers=int(workers), seed=1)
    model.wv.save_word2vec_format(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
