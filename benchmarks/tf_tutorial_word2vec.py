"""The approach of TensorFlow's word2vec tutorial (tensorflow.org/text/tutorials/word2vec).

Python-side ``skipgrams`` per sentence, one ``log_uniform_candidate_sampler`` call per
positive pair for its negatives, then ``model.fit`` on the resulting arrays with a
two-Embedding dot-product model, as the tutorial does. Run on a slice of the corpus.

python benchmarks/tf_tutorial_word2vec.py CORPUS OUT_VECTORS WORDS DIM WINDOW NEGATIVE MIN_COUNT EPOCHS
"""

import collections
import gzip
import sys

import numpy as np
import tensorflow as tf


def read_words(path, limit):
    opener = gzip.open if path.endswith(".gz") else open
    words = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            words.extend(line.split())
            if len(words) >= limit:
                break
    return words[:limit]


class Word2Vec(tf.keras.Model):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.target_embedding = tf.keras.layers.Embedding(vocab_size, dim, name="w2v_embedding")
        self.context_embedding = tf.keras.layers.Embedding(vocab_size, dim)

    def call(self, pair):
        target, context = pair
        word_emb = self.target_embedding(target)
        context_emb = self.context_embedding(context)
        return tf.einsum("be,bce->bc", word_emb, context_emb)


def main(corpus, out, words, dim, window, negative, min_count, epochs):
    words = read_words(corpus, int(words))
    counts = collections.Counter(words)
    vocab = ["<pad>"] + [w for w, c in counts.most_common() if c >= int(min_count)]
    index = {w: i for i, w in enumerate(vocab)}
    sequence = [index.get(w, 0) for w in words]
    sampling_table = tf.keras.preprocessing.sequence.make_sampling_table(len(vocab))
    targets, contexts, labels = [], [], []
    for start in range(0, len(sequence), 1000):  # the tutorial's per-sentence loop
        positives, _ = tf.keras.preprocessing.sequence.skipgrams(
            sequence[start:start + 1000], vocabulary_size=len(vocab),
            sampling_table=sampling_table, window_size=int(window), negative_samples=0)
        for target, context in positives:
            context_class = tf.expand_dims(tf.constant([context], dtype="int64"), 1)
            negatives, _, _ = tf.random.log_uniform_candidate_sampler(
                true_classes=context_class, num_true=1, num_sampled=int(negative), unique=True,
                range_max=len(vocab), seed=1)
            targets.append(target)
            contexts.append(np.concatenate([[context], negatives.numpy()]))
            labels.append([1] + [0] * int(negative))
    dataset = tf.data.Dataset.from_tensor_slices(
        ((np.array(targets), np.array(contexts)), np.array(labels, np.float32)))
    dataset = dataset.shuffle(10000).batch(1024, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    model = Word2Vec(len(vocab), int(dim))
    model.compile(optimizer="adam",
                  loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(dataset, epochs=int(epochs), verbose=0)
    matrix = model.target_embedding.get_weights()[0]
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"{len(vocab) - 1} {matrix.shape[1]}\n")
        for word, row in zip(vocab[1:], matrix[1:]):
            f.write(word + " " + " ".join(f"{x:.6g}" for x in row) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
