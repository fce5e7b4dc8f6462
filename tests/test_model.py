"""The SkipGram model (sg_keras.model): its matrices, its objectives (sg_keras.objectives),
its noise words (sg_keras.noise) and its learning-rate schedule. Its layers and the
round trips of every Keras class through configs and .keras files: tests/test_layers.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from sg_keras import noise, objectives
from sg_keras.model import SkipGram
from sg_keras.schedules import LinearDecay
from sg_keras.variables import read_in_place

COUNTS = np.array([500, 200, 100, 50, 20, 10, 5, 5, 3, 1])


def make_model(loss="negative", vocab_size=10, dim=8):
    return SkipGram(vocab_size, dim, loss=loss, num_sampled=4, seed=3,
                    noise_counts=COUNTS[:vocab_size] if vocab_size <= 10 else None)


def test_call_gives_a_distribution_over_the_vocabulary():
    model = make_model()
    model.context_softmax.kernel.assign(np.random.default_rng(0).normal(size=(10, 8)))
    probabilities = model(tf.constant([0, 3, 9])).numpy()
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    # The hidden layer is an Embedding lookup: row i of the V x d matrix is word i's vector.
    np.testing.assert_array_equal(model.word_vectors()[3], model.embedding(tf.constant(3)).numpy())


def shares_buffer(first, second):
    return np.shares_memory(np.asarray(first), np.asarray(second))


def trained_one_step(model):
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.train_on_batch(tf.constant([1, 2, 3]), tf.constant([4, 5, 6]))


def test_word_vectors_are_a_read_only_snapshot():
    model = make_model()
    trained_one_step(model)
    vectors = model.word_vectors()
    before = vectors.copy()
    with pytest.raises(ValueError, match="read-only"):
        vectors[0, 0] = 1.0
    model.train_on_batch(tf.constant([1, 2, 3]), tf.constant([4, 5, 6]))
    np.testing.assert_array_equal(vectors, before)
    assert not np.array_equal(model.word_vectors(), before)


def test_a_sparsely_updated_variable_is_read_in_place():
    model = make_model()
    trained_one_step(model)  # sparse updates: TensorFlow now copies the matrices on each read
    kernel = model.context_softmax.kernel
    assert not shares_buffer(tf.convert_to_tensor(kernel.value), tf.convert_to_tensor(kernel.value))
    assert shares_buffer(read_in_place(kernel), read_in_place(kernel))
    assert shares_buffer(read_in_place(kernel), tf.convert_to_tensor(kernel.value))


def test_saving_reads_the_matrices_in_place(tmp_path):
    model = make_model()
    trained_one_step(model)
    model.save_weights(tmp_path / "model.weights.h5")
    for variable in (model.embedding.embeddings, model.context_softmax.kernel):
        assert shares_buffer(tf.convert_to_tensor(variable.value),
                             tf.convert_to_tensor(variable.value))


@pytest.mark.parametrize("initial, total_steps, final_fraction", [
    (0.025, 1000, 1e-4), (0.5, 10, 0.5)])
def test_linear_decay_falls_in_a_straight_line_then_stays(initial, total_steps,
                                                          final_fraction):
    schedule = LinearDecay(initial, total_steps, final_fraction)
    steps = np.array([0, 1, total_steps // 4, total_steps // 2, total_steps - 1, total_steps,
                      total_steps + 1, 5 * total_steps])
    # The reference: numpy's linear interpolation from the initial rate at step 0 to
    # final_fraction of it at total_steps, and that rate after it.
    expected = np.interp(steps, [0, total_steps], [initial, initial * final_fraction])
    np.testing.assert_allclose([float(schedule(step)) for step in steps], expected,
                               rtol=1e-5, atol=1e-9)  # float32


def noise_reference(counts):
    """word2vec's noise distribution, written out: unigram counts to the power 3/4."""
    weights = np.asarray(counts, np.float64) ** 0.75
    return weights / weights.sum()


def test_noise_is_drawn_from_unigram_to_the_three_quarters():
    model = SkipGram(10, 8, num_sampled=200_000, seed=3, noise_counts=COUNTS)
    expected = noise_reference(COUNTS)
    np.testing.assert_allclose(noise.distribution(COUNTS), expected, rtol=1e-12)
    for seed in (None, tf.constant([7, 0], tf.int64)):  # the generator's, or a given seed
        draws = model.noise_words(seed).numpy()
        assert draws.shape == (200_000,)
        observed = np.bincount(draws, minlength=10) / len(draws)
        np.testing.assert_allclose(observed, expected, atol=0.004)
    np.testing.assert_allclose(noise.probability(model.noise_cdf.value, tf.constant([0, 9])),
                               expected[[0, 9]], rtol=1e-4)


@pytest.mark.parametrize("loss", ["negative", "sampled"])
def test_approximate_objectives_update_only_the_rows_they_touch(loss):
    vocab_size = 1000
    model = SkipGram(vocab_size, 8, loss=loss, num_sampled=4, seed=3,
                     noise_counts=np.full(vocab_size, 5))
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    centre, context = tf.constant([1, 2, 3]), tf.constant([4, 5, 6])
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(model.pair_losses(centre, context))
    gradients = tape.gradient(total, model.trainable_variables)
    assert all(isinstance(g, tf.IndexedSlices) for g in gradients)
    model.context_softmax.kernel.assign(np.random.default_rng(0).normal(size=(vocab_size, 8)))
    embedding_before = model.word_vectors().copy()
    output_before = model.context_softmax.kernel.numpy().copy()
    model.train_on_batch(centre, context)
    changed = np.flatnonzero(np.any(model.word_vectors() != embedding_before, axis=1))
    assert set(changed) == {1, 2, 3}
    changed_outputs = np.flatnonzero(
        np.any(model.context_softmax.kernel.numpy() != output_before, axis=1))
    assert {4, 5, 6} <= set(changed_outputs) and len(changed_outputs) <= 3 + 4


def sampled_softmax_reference(hidden, output, context, sampled, q):
    """The sampled softmax written out pair by pair: the cross-entropy of the context word
    among itself and its group's noise words (groups of ceil(B / G) consecutive pairs),
    logits h·w - log(S·q), a noise word equal to the context word left out."""
    groups, num_sampled = sampled.shape
    group_size = -(-len(context) // groups)
    losses = []
    for pair, (h, c) in enumerate(zip(hidden, context)):
        noise = [w for w in sampled[pair // group_size] if w != c]
        logits = np.array([h @ output[w] - np.log(num_sampled * q[w]) for w in [c, *noise]])
        losses.append(np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[0])
    return np.array(losses)


@pytest.mark.parametrize("pairs, groups", [(7, 1), (7, 3), (9, 3)])
def test_sampled_softmax_is_the_cross_entropy_over_each_group_of_pairs_draw(pairs, groups):
    rng = np.random.default_rng(8)
    hidden, output = rng.normal(size=(pairs, 8)), rng.normal(size=(10, 8))
    context = rng.integers(0, 10, size=pairs)
    sampled = rng.integers(0, 10, size=(groups, 5))
    sampled[0, 0] = context[0]  # an accidental hit
    q = noise_reference(COUNTS)
    losses = objectives.sampled_softmax(
        tf.constant(hidden, tf.float32), tf.constant(output, tf.float32),
        tf.constant(context, tf.int64), tf.constant(sampled, tf.int64),
        lambda ids: tf.gather(tf.constant(q, tf.float32), ids))
    expected = sampled_softmax_reference(hidden, output, context, sampled, q)
    np.testing.assert_allclose(losses.numpy(), expected, rtol=1e-4)
    if groups == 1:  # one draw for all pairs: TensorFlow's own sampled softmax
        theirs = tf.nn.sampled_softmax_loss(
            weights=tf.constant(output, tf.float32), biases=tf.zeros([10]),
            labels=tf.constant(context[:, None], tf.int64),
            inputs=tf.constant(hidden, tf.float32), num_sampled=5, num_classes=10,
            sampled_values=(tf.constant(sampled[0], tf.int64),
                            tf.constant(5 * q[context][:, None], tf.float32),
                            tf.constant(5 * q[sampled[0]], tf.float32)))
        np.testing.assert_allclose(losses.numpy(), theirs.numpy(), rtol=1e-4)


def test_sampled_softmax_draws_noise_words_for_every_64_pairs():
    model = make_model("sampled")
    for pairs, draws in ((1, 1), (64, 1), (65, 2), (4096, 64)):
        assert objectives.draws(pairs) == draws
    assert model.noise_words(draws=3).shape == (3, 4)
    drawn = {}
    model.noise_words = lambda seed=None, draws=None: drawn.setdefault(
        "words", tf.zeros([draws, 4], tf.int64))
    model.pair_losses(tf.range(130) % 10, tf.range(130) % 7)
    assert drawn["words"].shape == (3, 4)


def test_softmax_objective_is_the_exact_cross_entropy():
    model = make_model("softmax")
    rng = np.random.default_rng(4)
    model.context_softmax.kernel.assign(rng.normal(size=(10, 8)))
    centre, context = tf.constant([0, 1, 2]), tf.constant([3, 4, 5])
    probabilities = model(centre).numpy()
    expected = -np.log(probabilities[np.arange(3), [3, 4, 5]])
    np.testing.assert_allclose(model.pair_losses(centre, context).numpy(), expected, rtol=1e-4)


def test_hand_derived_softmax_gradients_match_autodiff():
    model = make_model("softmax")
    rng = np.random.default_rng(6)
    model.embedding.embeddings.assign(rng.normal(size=(10, 8)))
    model.context_softmax.kernel.assign(rng.normal(size=(10, 8)))
    centre, context = (tf.constant([2, 2, 7, 0, 9], tf.int64),
                       tf.constant([1, 3, 3, 0, 8], tf.int64))
    losses, gradients = model.losses_and_gradients(centre, context)
    variables = [model.embedding.embeddings, model.context_softmax.kernel]
    with tf.GradientTape() as tape:
        expected = model.pair_losses(centre, context)  # sparse_softmax_cross_entropy_with_logits
        total = tf.reduce_sum(expected)
    np.testing.assert_allclose(losses.numpy(), expected.numpy(), rtol=1e-5)
    for ours, theirs in zip(gradients, tape.gradient(total, variables)):
        np.testing.assert_allclose(tf.convert_to_tensor(ours).numpy(),
                                   tf.convert_to_tensor(theirs).numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", objectives.LOSSES)
def test_train_step_lowers_the_loss_of_a_repeated_batch(loss):
    model = make_model(loss)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    centre, context = tf.constant([0, 1, 2, 3] * 8), tf.constant([1, 0, 3, 2] * 8)
    first = model.train_on_batch(centre, context, return_dict=True)["loss"]
    for _ in range(30):
        last = model.train_on_batch(centre, context, return_dict=True)["loss"]
    assert last < first


@pytest.mark.parametrize("centre, context", [
    ([2, 3, 2, 9], [1, 4, 5, 7]),
    # runs of one centre word share noise logits; noise words 1 and 7 hit contexts
    ([2, 2, 3, 2, 9, 9, 9], [1, 4, 5, 7, 7, 1, 9]),
])
@pytest.mark.parametrize("pair_rows", [False, True])
@pytest.mark.parametrize("scale", [1.0, 8.0])  # 8: logits far into σ's flat tails (±100s)
def test_hand_derived_negative_sampling_gradients_match_autodiff(centre, context, pair_rows,
                                                                 scale):
    model = make_model("negative")
    rng = np.random.default_rng(5)
    model.embedding.embeddings.assign(scale * rng.normal(size=(10, 8)))
    model.context_softmax.kernel.assign(scale * rng.normal(size=(10, 8)))
    noise_words = tf.constant([0, 1, 1, 7], tf.int64)
    model.noise_words = lambda seed=None: noise_words  # the same draw for both computations
    model.gradient_rows_per_pair = pair_rows  # as MultiWorkerStrategy.fit sets it
    runs = 1 + sum(a != b for a, b in zip(centre, centre[1:]))
    centre, context = tf.constant(centre), tf.constant(context)
    losses, gradients = model.losses_and_gradients(centre, context)
    variables = [model.embedding.embeddings, model.context_softmax.kernel]
    with tf.GradientTape() as tape:
        hidden = tf.gather(variables[0].value, tf.cast(centre, tf.int64))
        output = variables[1].value
        positive = tf.reduce_sum(hidden * tf.gather(output, tf.cast(context, tf.int64)), 1)
        noise_logits = tf.matmul(hidden, tf.gather(output, noise_words), transpose_b=True)
        hit = tf.cast(noise_words[None, :] == tf.cast(context, tf.int64)[:, None], tf.float32)
        expected = -tf.math.log_sigmoid(positive) - 5 / 4 * tf.reduce_sum(
            tf.math.log_sigmoid(-noise_logits) * (1 - hit), axis=1)
        total = tf.reduce_sum(expected)
    np.testing.assert_allclose(losses.numpy(), expected.numpy(), rtol=1e-5)
    # One embedding-gradient row per pair, or per run of pairs of one centre word.
    assert gradients[0].values.shape[0] == (len(centre) if pair_rows else runs)
    for ours, theirs in zip(gradients, tape.gradient(total, variables)):
        np.testing.assert_allclose(tf.convert_to_tensor(ours).numpy(),
                                   tf.convert_to_tensor(theirs).numpy(), rtol=1e-4, atol=1e-6)


def hs_model(rng, scale=1.0):
    model = make_model("hs")
    model.embedding.embeddings.assign(scale * rng.normal(size=(10, 8)))
    model.context_softmax.kernel.assign(scale * rng.normal(size=(10, 8)))
    return model


def test_hierarchical_softmax_losses_are_minus_the_log_of_the_trees_probabilities():
    model = hs_model(np.random.default_rng(9))
    centre, context = tf.constant([0, 3, 3, 9]), tf.constant([1, 0, 9, 9])
    probabilities = model(centre).numpy()  # along the tree: a distribution over the words
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(model.pair_losses(centre, context).numpy(),
                               -np.log(probabilities[np.arange(4), context.numpy()]),
                               rtol=1e-4)


@pytest.mark.parametrize("node_pairs", [64, 2])  # 2: the top nodes' steps are capped
@pytest.mark.parametrize("scale", [1.0, 8.0])
# The nodes scored by one matrix product: all 9 inner nodes, the 3 nearest the root, none.
@pytest.mark.parametrize("top_nodes", [objectives.TOP_NODES, 3, 0])
def test_hand_derived_hierarchical_softmax_gradients_match_autodiff(monkeypatch, node_pairs,
                                                                     scale, top_nodes):
    monkeypatch.setattr(objectives, "NODE_PAIRS", node_pairs)
    monkeypatch.setattr(objectives, "TOP_NODES", top_nodes)
    model = hs_model(np.random.default_rng(10), scale)
    centre = tf.constant([2, 2, 7, 0, 9, 4], tf.int64)
    context = tf.constant([1, 3, 3, 0, 8, 1], tf.int64)
    losses, gradients = model.losses_and_gradients(centre, context)
    variables = [model.embedding.embeddings, model.context_softmax.kernel]
    with tf.GradientTape() as tape:  # -log P(context | centre) along the tree, from scratch
        hidden = tf.gather(variables[0].value, centre)
        nodes, codes, owners = model.context_softmax.paths(context)
        node_rows = tf.gather(variables[1].value, nodes)
        if node_pairs < 64:  # the capped step: each node's gradient scaled as documented
            _, position, uses = tf.unique_with_counts(nodes)
            node_rows = objectives.capped_node_rows(node_rows, tf.gather(
                tf.minimum(1.0, node_pairs / tf.cast(uses, tf.float32)), position))
        logits = tf.reduce_sum(tf.gather(hidden, owners) * node_rows, axis=1)
        expected = -tf.math.segment_sum(tf.math.log_sigmoid((1 - 2 * codes) * logits), owners)
        total = tf.reduce_sum(expected)
    np.testing.assert_allclose(losses.numpy(), expected.numpy(), rtol=1e-4)
    theirs = tape.gradient(total, variables)
    for ours, reference in zip(gradients, theirs):
        np.testing.assert_allclose(tf.convert_to_tensor(ours).numpy(),
                                   tf.convert_to_tensor(reference).numpy(), rtol=1e-4, atol=1e-6)
    # The GradientTape path (sharded kernels) takes the same capped step.
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(model.hidden_losses(tf.gather(variables[0].value, centre), context))
    np.testing.assert_allclose(tf.convert_to_tensor(tape.gradient(total, variables[1])).numpy(),
                               tf.convert_to_tensor(theirs[1]).numpy(), rtol=1e-4, atol=1e-6)
    if node_pairs < 64:  # the root is on all six paths: its step is 2 pairs' worth of 6
        with tf.GradientTape() as tape:
            node_rows = tf.gather(variables[1].value, nodes)
            logits = tf.reduce_sum(tf.gather(tf.gather(variables[0].value, centre), owners)
                                   * node_rows, axis=1)
            total = -tf.reduce_sum(tf.math.log_sigmoid((1 - 2 * codes) * logits))
        root = model.vocab_size - 2
        plain = tf.convert_to_tensor(tape.gradient(total, variables[1])).numpy()[root]
        np.testing.assert_allclose(tf.convert_to_tensor(gradients[1]).numpy()[root],
                                   plain * 2 / 6, rtol=1e-4, atol=1e-6)
