"""gensim's skip-gram (the peer the benchmark compares against), as a separate process.

python benchmarks/gensim_word2vec.py CORPUS OUT_VECTORS DIM WINDOW NEGATIVE SAMPLE MIN_COUNT EPOCHS
    WORKERS [MORE]

NEGATIVE 0 trains hierarchical softmax (``hs=1``), as word2vec.c's ``-hs 1 -negative 0``.
With MORE (a second corpus), training then continues on it as gensim's users do: the
vocabulary updated (``build_vocab(update=True)``) and EPOCHS more passes, the learning rate
starting again from its initial value.
"""

import sys

from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence


def main(corpus, out, dim, window, negative, sample, min_count, epochs, workers, more=None):
    model = Word2Vec(LineSentence(corpus), sg=1, vector_size=int(dim), window=int(window),
                     negative=int(negative), hs=int(int(negative) == 0),
                     sample=float(sample), min_count=int(min_count),
                     epochs=int(epochs), workers=int(workers), seed=1)
    if more:
        model.build_vocab(LineSentence(more), update=True)
        model.train(LineSentence(more), total_examples=model.corpus_count, epochs=int(epochs))
    model.wv.save_word2vec_format(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
