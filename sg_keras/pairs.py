"""Skip-gram pairs, generated in-graph inside tf.data.

For every kept word (the *centre* or input word) and every word at most ``b``
positions away in the same sentence (its *context*), one training pair
(centre, context). ``b`` is the window, or with window shrinking (word2vec.c's
default) a number drawn uniformly from 1..window for each centre word.
Frequent words are first discarded at random (subsampling), so windows reach
over them, as in word2vec.c and gensim.
"""

import numpy as np
import tensorflow as tf

from sg_keras import process, text
from sg_keras.errors import UsageError
from sg_keras.vocab import Vocabulary


def keep_probabilities(counts, sample):
    """word2vec.c's probability of keeping each word: (sqrt(f/(t·T)) + 1) · t·T/f.

    f is the word's count, T the number of in-vocabulary tokens, t = sample;
    sample 0 keeps every word.
    """
    counts = np.asarray(counts, np.float64)
    if sample == 0:
        return np.ones_like(counts, np.float32)
    threshold = sample * counts.sum()
    keep = (np.sqrt(counts / threshold) + 1) * threshold / counts
    return np.minimum(keep, 1.0).astype(np.float32)


def expected_pairs(counts, sample, window, shrink_window, sentences, corpus_counts=None):
    """Estimated number of pairs one epoch yields (for the learning-rate schedule).

    ``counts``: the vocabulary's, which subsampling uses; ``corpus_counts``: each word's
    count in the epoch's corpus, when it differs (continued training).
    """
    corpus_counts = counts if corpus_counts is None else corpus_counts
    kept = float(np.sum(np.asarray(corpus_counts) * keep_probabilities(counts, sample)))
    spans = np.arange(1, window + 1) if shrink_window else np.array([window])
    # Each kept word pairs with 2b neighbours, minus those past a sentence's ends.
    per_word = 2 * spans.mean()
    lost_per_sentence = (spans * (spans + 1)).mean()
    return max(kept * per_word - sentences * lost_per_sentence, kept)


# Bytes per cell of the [tokens, 2·window] neighbour matrices a block's pairs are made
# from: the int32 positions and gathers, the boolean masks, the masked pairs.
NEIGHBOUR_CELL_BYTES = 40


def neighbour_matrix_bytes(tokens, window):
    """The memory skipgram_pairs takes for ``tokens`` tokens at ``window``, at most."""
    return tokens * 2 * window * NEIGHBOUR_CELL_BYTES


def skipgram_pairs(values, sentence_ids, spans, window, order=None):
    """Pairs (centre, context) of ``values`` within ``spans`` positions, same sentence.

    values: [n] one entry per token (word ids, or positions); sentence_ids: [n]
    the sentence of each token; spans: [n] each token's effective window
    b ≤ window. The pairs come grouped by centre token, each token's contexts
    in text order, the tokens in text order or in ``order`` (a permutation of
    0..n-1). Vectorised: one [n, 2·window] matrix of neighbour positions.
    """
    offsets = tf.constant([o for o in range(-window, window + 1) if o], tf.int32)
    count = tf.size(values)
    positions = tf.range(count) if order is None else tf.cast(order, tf.int32)
    neighbours = positions[:, None] + offsets[None, :]
    inside = (neighbours >= 0) & (neighbours < count)
    neighbours = tf.clip_by_value(neighbours, 0, tf.maximum(count - 1, 0))
    same_sentence = tf.equal(tf.gather(sentence_ids, neighbours),
                             tf.gather(sentence_ids, positions)[:, None])
    centre_spans = tf.cast(tf.gather(spans, positions), tf.int32)
    within_span = tf.abs(offsets)[None, :] <= centre_spans[:, None]
    valid = inside & same_sentence & within_span
    centres = tf.broadcast_to(tf.gather(values, positions)[:, None], tf.shape(neighbours))
    contexts = tf.gather(values, neighbours)
    return tf.boolean_mask(centres, valid), tf.boolean_mask(contexts, valid)


class PairGenerator:
    """Turns blocks of sentences into (centre id, context id) pairs, in-graph.

    Args:
      vocab: the Vocabulary (ids are row numbers of the embedding).
      window: maximum distance between centre and context word.
      sample: subsampling threshold t (0 = off).
      shrink_window: draw each centre word's window uniformly from 1..window.
      tokenizer: name of the tokenizer (see text.TOKENIZERS).
      phrases: a sg_keras.phrases.PhraseTable whose phrases are joined into words, or None.

    Example:

    >>> import tensorflow as tf
    >>> from sg_keras.vocab import Vocabulary
    >>> vocab = Vocabulary.from_counts(["the", "quick", "brown", "fox"], [1, 1, 1, 1], 1)
    >>> generator = PairGenerator(vocab, window=1, sample=0, shrink_window=False)
    >>> centres, contexts = generator.block_pairs(tf.constant(["the quick brown"]),
    ...                                           tf.constant([1, 2], tf.int64))
    >>> sorted(zip(centres.numpy().tolist(), contexts.numpy().tolist()))
    [(0, 1), (1, 0), (1, 2), (2, 1)]
    """

    def __init__(self, vocab, window, sample, shrink_window=True, tokenizer="unicode",
                 phrases=None):
        self.window = window
        self.phrases = phrases
        self.sample = sample
        self.shrink_window = shrink_window
        self.tokenizer = tokenizer
        self.table = vocab.lookup_table()
        self.keep = tf.constant(keep_probabilities(vocab.counts, sample))

    def kept_tokens(self, sentences, seed):
        """Word ids, sentence index and window of each kept token of a block (int32).

        ``sentences``: valid UTF-8, as sg_keras.corpus's readers yield them.
        """
        words = text.tokenize(sentences, self.tokenizer, valid_utf8=True)
        if self.phrases is not None:
            words = self.phrases.join(words)
        ids = self.table.lookup(words.flat_values)
        sentence_ids = words.value_rowids()
        subsample_seed, window_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 2))
        kept = ids >= 0
        if self.sample:
            draw = tf.random.stateless_uniform(tf.shape(ids), subsample_seed)
            kept &= draw < tf.gather(self.keep, tf.maximum(ids, 0))
        # int32 from here on: half the memory and traffic of int64 (V < 2**31).
        ids = tf.cast(tf.boolean_mask(ids, kept), tf.int32)
        sentence_ids = tf.cast(tf.boolean_mask(sentence_ids, kept), tf.int32)
        if self.shrink_window:
            spans = tf.random.stateless_uniform(
                tf.shape(ids), window_seed, minval=1, maxval=self.window + 1, dtype=tf.int32)
        else:
            spans = tf.fill(tf.shape(ids), self.window)
        return ids, sentence_ids, spans

    def block_pairs(self, sentences, seed):
        """All pairs of one block: the centre words shuffled, each one's pairs together.

        (Kept together, a word's pairs share their noise term in the train step.)
        """
        tokens_seed, shuffle_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 2))
        ids, sentence_ids, spans = self.kept_tokens(sentences, tokens_seed)
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.size(ids)), shuffle_seed)
        return skipgram_pairs(ids, sentence_ids, spans, self.window, order)

    def dataset(self, corpus, batch_size, seed, repeat=False, skip_batches=0):
        """Batches of (centre ids, context ids); new random draws on every pass.

        With ``repeat`` the passes follow one another endlessly (batches run
        across pass boundaries), for a training loop with a known steps_per_epoch.
        ``skip_batches``: start after that many batches (a resumed run's stream goes
        on where the interrupted run's stopped: the draws depend on the seed alone).
        """
        block_seeds = tf.data.Dataset.random(seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(corpus.dataset(), block_seeds)
        if repeat:
            dataset = dataset.repeat()
        dataset = dataset.map(self.block_pairs, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)
        dataset = dataset.rebatch(batch_size).skip(skip_batches).prefetch(tf.data.AUTOTUNE)
        # No autotuning thread: deleting the iterator (the training loop's, when training
        # ends) waits out that thread's sleep, which doubles up to a minute.
        # AUTOTUNE above then keeps its starting point: one parallel call per thread
        # of tf.data's pool (one per core), and a prefetch buffer grown on demand.
        options = tf.data.Options()
        options.autotune.enabled = False
        return dataset.with_options(options)


def explain_pairs(sentence, window, sample=0.0, shrink_window=False, tokenizer="unicode",
                  seed=1):
    """The training pairs of one sentence, grouped by centre word, in text order.

    The vocabulary (for subsampling) is the sentence's own words. Returns a
    list of (centre word, [context words]) for each kept word with a context.

    Example:

    >>> explain_pairs("the quick brown fox jumps", window=2)[2]
    ('brown', ['the', 'quick', 'fox', 'jumps'])
    """
    sentence = tf.constant([text.utf8_bytes(sentence)])
    words = text.tokenize(sentence, tokenizer).flat_values.numpy()
    if not len(words):
        raise UsageError("the text has no words")
    if not shrink_window:  # no pair is further apart than the sentence is long
        window = min(window, max(len(words) - 1, 1))
    process.check_memory(neighbour_matrix_bytes(len(words), window), f"--window={window}")
    distinct, first_index, counts = np.unique(words, return_index=True, return_counts=True)
    vocab = Vocabulary.from_counts([w.decode("utf-8") for w in distinct], counts, min_count=1,
                                   first_seen=first_index, min_words=1)
    generator = PairGenerator(vocab, window, sample, shrink_window, tokenizer)
    ids, sentence_ids, spans = generator.kept_tokens(
        text.replace_invalid_utf8(sentence), tf.constant([seed, 0], tf.int64))
    positions = tf.range(tf.size(ids))
    centres, contexts = (t.numpy() for t in skipgram_pairs(positions, sentence_ids, spans, window))
    ids = ids.numpy()
    groups = []
    for centre in np.unique(centres):
        context_positions = np.sort(contexts[centres == centre])
        groups.append((vocab.words[ids[centre]], [vocab.words[ids[p]] for p in context_positions]))
    return groups
