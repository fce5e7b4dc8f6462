"""fastText's skip-gram (the subword peer the benchmark compares against), as a separate process.

python benchmarks/fasttext_skipgram.py CORPUS OUT_MODEL DIM WINDOW NEGATIVE SAMPLE MIN_COUNT EPOCHS THREADS MIN_N MAX_N BUCKETS

CORPUS is plain text (fastText reads no .gz); OUT_MODEL is the ``.bin`` fastText
writes (sg_keras.WordVectors.load reads it, n-grams included). The learning rate
is word2vec's 0.025, as for the other systems (fastText's own default is 0.05).
"""

import sys

import fasttext


def main(corpus, out, dim, window, negative, sample, min_count, epochs, threads, min_n, max_n,
         buckets):
    model = fasttext.train_unsupervised(
        corpus, model="skipgram", dim=int(dim), ws=int(window), neg=int(negative),
        t=float(sample), minCount=int(min_count), epoch=int(epochs), thread=int(threads),
        minn=int(min_n), maxn=int(max_n), bucket=int(buckets), lr=0.025, loss="ns",
        verbose=0)
    model.save_model(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
