"""The training objectives of the skip-gram model, as pure functions of its layers' values.

Each takes the centre words' vectors (the hidden layer's rows ``hidden`` [B, d], or
for ``negative`` the function ``input_rows`` that gathers them: sg_keras.layers'
``rows``) and the output layer's kernel ``output`` [V, d] (a variable, sharded or
not) and a batch of (centre, context) id pairs (for ``hs``, the context words' paths),
and returns each pair's loss [B]; those with hand-derived gradients also return them: the
hidden rows' gradient (which the hidden layer turns into its matrix's update) and the output
kernel's, as IndexedSlices where rows are touched:

* :func:`softmax_cross_entropy`: the exact model, the tutorial's full softmax
  (cost grows with V);
* :func:`negative_sampling`: k = ``negative`` noise words per pair from the noise
  distribution: -log σ(h·w_c) - k·E_noise[log σ(-h·w_n)];
* :func:`sampled_softmax`: sampled softmax (Jean et al. 2015), the softmax over the
  context word and ``num_sampled`` noise words;
* :func:`hierarchical_softmax`: word2vec's hierarchical softmax, a sigmoid per inner node
  of the Huffman tree (sg_keras.huffman) on the context word's path.

The approximate objectives share draws of noise words between pairs, so the noise term
is a matrix product: ``negative`` one draw for the batch (each pair's noise term weighted
k/num_sampled, an unbiased estimate of word2vec.c's k independent draws per pair),
``sampled`` one draw per PAIRS_PER_DRAW pairs. As in word2vec.c the learning rate applies
per training pair: a batch's gradient is the sum, not the mean, of its pairs' gradients.
"""

import numpy as np
import tensorflow as tf

from sg_keras.variables import dense_shape, rows

LOSSES = ("negative", "softmax", "sampled", "hs")
SPARSE_LOSSES = ("negative", "sampled", "hs")  # their train step is many small ops
PAIRS_PER_DRAW = 64  # sampled: pairs sharing a draw of noise words (see sampled_softmax)
NODE_PAIRS = 64  # hs: the most pairs' worth of step an inner node takes in one batch
TOP_NODES = 127  # hs: the inner nodes nearest the root, scored by one matrix product


def draws(pairs):
    """How many draws of noise words the sampled softmax makes for a batch of ``pairs``."""
    return (pairs + PAIRS_PER_DRAW - 1) // PAIRS_PER_DRAW


def softmax_cross_entropy(hidden, output, context):
    """Per-pair losses [B] and gradients (hidden [B, d], output [V, d]) of the full softmax.

    With p = softmax(h·Wᵀ) the logits' gradient is p - onehot(context); taken
    from TF's softmax op, this is faster on CPU than the fused
    SparseSoftmaxCrossEntropyWithLogits kernel on [B, V] logits (benchmarks/RESULTS.md). The loss is
    -log p[context], p floored at float32's smallest normal number (so a loss
    is at most 87.3).
    """
    probabilities = tf.nn.softmax(tf.matmul(hidden, output, transpose_b=True))
    targets = tf.stack([tf.range(tf.size(context, out_type=tf.int64)), context], axis=1)
    losses = -tf.math.log(tf.maximum(tf.gather_nd(probabilities, targets),
                                     np.finfo(np.float32).tiny))
    logits_grad = tf.tensor_scatter_nd_sub(probabilities, targets, tf.ones_like(losses))
    # (hᵀ·g)ᵀ rather than gᵀ·h: the same product, faster with g ([B, V]) not transposed.
    return losses, (tf.matmul(logits_grad, output),
                    tf.transpose(tf.matmul(hidden, logits_grad, transpose_a=True)))


def sampled_softmax(hidden, output, context, sampled, noise_probability):
    """Per-pair losses [B] of the sampled softmax, one draw of noise words per group of pairs.

    ``sampled`` [G, S]: row g holds the noise words of the g-th of G equal groups of
    consecutive pairs (the last one padded); ``noise_probability(ids)``: each word's
    probability q under the noise distribution. A pair's loss is the cross-entropy of its
    context word among itself and its group's S noise words, each logit h·w minus
    log(S·q) (Jean et al.'s correction, as ``tf.nn.sampled_softmax_loss``), a noise word
    equal to the context word left out. Differentiate with a GradientTape (the gathers
    give IndexedSlices).

    Why groups: a noise word's row gets the gradient of every pair that shares its draw,
    each pair's up to 1 (a softmax's noise probabilities sum to 1 - p(context), which
    stays near 1 for most pairs, unlike negative sampling's σ terms that fade), so with
    one draw for a batch of B pairs at word2vec's per-pair learning rate a row can move by
    lr·B·|h| in one step. On wiki10 (B = 4096, sample 1e-3) one draw per batch diverged
    within 300 steps at lr 0.025 (with the log(S·q) correction, without it, or with a
    log-unigram bias) and at 0.0125 for 2 seeds of 3; with a draw per 64 pairs it trained
    at 0.02 (the default learning rate for ``sampled``) for 5 seeds of 5 and at 0.025 for 2
    of 3 (benchmarks/RESULTS.md).
    """
    groups, num_sampled = tf.shape(sampled)[0], sampled.shape[1]
    pairs = tf.size(context)
    group_size = (pairs + groups - 1) // groups
    padding = group_size * groups - pairs
    context_logits = tf.reduce_sum(hidden * rows(output, context), axis=1) - tf.math.log(
        num_sampled * noise_probability(context))
    noise_logits = tf.matmul(  # [G, group_size, S]
        tf.reshape(tf.pad(hidden, [[0, padding], [0, 0]]), [groups, group_size, -1]),
        tf.reshape(rows(output, tf.reshape(sampled, [-1])), [groups, num_sampled, -1]),
        transpose_b=True) - tf.math.log(num_sampled * noise_probability(sampled))[:, None, :]
    grouped_context = tf.reshape(tf.pad(context, [[0, padding]]), [groups, group_size, 1])
    noise_logits = tf.where(tf.equal(grouped_context, sampled[:, None, :]),
                            tf.float32.min, noise_logits)
    logits = tf.concat([tf.reshape(tf.pad(context_logits, [[0, padding]]),
                                   [groups, group_size, 1]), noise_logits], axis=2)
    losses = tf.reduce_logsumexp(logits, axis=2) - logits[:, :, 0]
    return tf.reshape(losses, [-1])[:pairs]


def hierarchical_softmax(hidden, output, nodes, codes, owners):
    """Per-pair losses [B] and gradients (hidden [B, d], output) of hierarchical softmax.

    ``nodes``, ``codes`` [T]: the output rows of the inner nodes on the paths of the pairs'
    context words and the branch taken at each (sg_keras.huffman), ``owners`` [T] the pair
    of each, in increasing order. A pair's loss is the sum along its path of the sigmoid
    cross-entropy of h·v with label 1 - code (word2vec.c's); the gradients are word2vec.c's
    updates written out, with g = σ(h·v) - label per node: the hidden row moves along
    g·v, the node's row along the sum of g·h over its pairs (IndexedSlices, one row per
    node touched).

    The TOP_NODES inner nodes nearest the root (the last merged, output rows V - 1 - K to
    V - 2) are on most paths (the 127 of them hold 54% of a wiki10 batch's path entries):
    their logits and both gradients are matrix products of the batch's hidden rows with
    those K rows, [B, K] with g = 0 off the paths, which costs less than gathering a row
    per entry; the other entries are gathered and summed per node.

    A node on the paths of more than NODE_PAIRS of the batch's pairs (the root is on all
    of them) gets the sum of its pairs' steps scaled down to NODE_PAIRS pairs' worth, as
    for differentiation with a GradientTape (``capped_node_rows``): word2vec.c updates the
    root once per pair, each step seeing the last, where a batch's summed step on it
    would be B pairs' at once (with B = 4096 training diverged within 64 steps).
    """
    pairs = tf.shape(hidden, out_type=tf.int64)[0]
    inner = dense_shape(output)[0] - 1  # the kernel's last row is no node (TreeSoftmax)
    top_count = tf.minimum(tf.constant(TOP_NODES, tf.int64), inner)
    first_top = inner - top_count
    top = nodes >= first_top
    top_at, rest_at = tf.where(top)[:, 0], tf.where(~top)[:, 0]
    labels = 1.0 - codes
    # The top nodes: cells (pair, node - first_top) of a [B, K] product.
    top_owners = tf.gather(owners, top_at)
    top_cells = tf.stack([top_owners, tf.gather(nodes, top_at) - first_top], 1)
    top_uses = tf.math.unsorted_segment_sum(tf.ones_like(top_at, tf.float32), top_cells[:, 1],
                                            top_count)
    top_scale = _cap(top_uses)
    top_rows = capped_node_rows(rows(output, tf.range(first_top, inner)), top_scale)
    top_logits = tf.gather_nd(tf.matmul(hidden, top_rows, transpose_b=True), top_cells)
    top_labels = tf.gather(labels, top_at)
    top_grad = tf.scatter_nd(top_cells, tf.sigmoid(top_logits) - top_labels,
                             tf.stack([pairs, top_count]))  # [B, K], 0 off the paths
    # The other entries: a row gathered for each.
    rest_nodes, rest_owners = tf.gather(nodes, rest_at), tf.gather(owners, rest_at)
    distinct, position, uses = tf.unique_with_counts(rest_nodes)
    rest_scale = _cap(tf.cast(uses, tf.float32))  # per distinct node
    rest_rows = capped_node_rows(rows(output, rest_nodes), tf.gather(rest_scale, position))
    rest_hidden = tf.gather(hidden, rest_owners)
    rest_logits = tf.reduce_sum(rest_hidden * rest_rows, axis=1)
    rest_labels = tf.gather(labels, rest_at)
    rest_grad = tf.sigmoid(rest_logits) - rest_labels

    def xent(labels, logits):
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)

    losses = tf.math.unsorted_segment_sum(xent(top_labels, top_logits), top_owners, pairs) + \
        tf.math.unsorted_segment_sum(xent(rest_labels, rest_logits), rest_owners, pairs)
    rest_hidden_grad = tf.math.segment_sum(rest_grad[:, None] * rest_rows, rest_owners)
    hidden_grad = tf.matmul(top_grad, top_rows) + tf.pad(
        rest_hidden_grad, [[0, pairs - tf.shape(rest_hidden_grad, out_type=tf.int64)[0]],
                           [0, 0]])
    output_grad = tf.concat([
        top_scale[:, None] * tf.matmul(top_grad, hidden, transpose_a=True),
        rest_scale[:, None] * tf.math.unsorted_segment_sum(
            rest_grad[:, None] * rest_hidden, position, tf.size(distinct))], 0)
    output_rows = tf.concat([tf.range(first_top, inner), distinct], 0)
    return losses, (hidden_grad, tf.IndexedSlices(output_grad, output_rows, dense_shape(output)))


def _cap(uses):
    """The scale of a node's summed step: NODE_PAIRS pairs' worth at most (see above)."""
    return tf.minimum(1.0, NODE_PAIRS / tf.maximum(uses, 1.0))


@tf.custom_gradient
def capped_node_rows(node_rows, scale):
    """``node_rows`` [T, d] unchanged; their gradient scaled by ``scale`` [T]."""
    return tf.identity(node_rows), lambda grad: (grad * scale[:, None], None)


def tree_log_probabilities(hidden, output, nodes, codes, splits):
    """log P(word | centre) [N, V] of every word under hierarchical softmax: the sum along
    its path (``nodes[splits[i]:splits[i + 1]]``, branches ``codes``) of log σ(±h·v)."""
    node_logits = tf.gather(tf.matmul(hidden, output, transpose_b=True), nodes, axis=1)
    node_log_probabilities = tf.math.log_sigmoid((1.0 - 2.0 * codes) * node_logits)
    words = tf.ragged.row_splits_to_segment_ids(splits)
    return tf.transpose(tf.math.segment_sum(tf.transpose(node_log_probabilities), words))


def softmax_losses(hidden, output, context):
    """Per-pair losses [B] of the full softmax, for a GradientTape (sharded weights)."""
    logits = tf.matmul(hidden, output, transpose_b=True)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(context, logits)


def negative_sampling(input_rows, output, centre, context, noise, negative, pair_rows=False):
    """Per-pair losses [B] and gradients of negative sampling.

    ``input_rows(ids)``: the centre words' vectors; ``noise`` [S]: the batch's noise
    words; ``negative``: k. Returns (losses, (hidden ids, hidden gradient), output
    gradient): the gradient of the vectors of the words ``hidden ids``. The gradients are
    word2vec.c's updates, written out: with g = σ(logit) - label, a hidden row
    moves along g·(output row) and an output row along g·(hidden row). Faster
    than a GradientTape.

    With the noise words shared by the batch, a pair's noise logits depend on
    its centre word only, so consecutive pairs with the same centre word (the
    pipeline emits a word's pairs together) share one row of noise logits: the
    noise term costs one row per run of pairs, not one per pair.

    ``pair_rows``: give the embedding gradient one row per pair (a run's noise
    part split evenly over its pairs) rather than one per run, so that its length
    is the batch's (MultiWorkerMirroredStrategy's all-gather of sparse gradients
    fails inside a training loop when the lengths differ across workers, TF 2.21).
    """
    num_sampled = noise.shape[0]
    pair_count = tf.size(centre)
    starts = tf.concat([tf.ones([1], tf.bool), centre[1:] != centre[:-1]], 0)[:pair_count]
    run = tf.cumsum(tf.cast(starts, tf.int32)) - 1  # run of each pair
    run_centre = tf.boolean_mask(centre, starts)
    run_count = tf.size(run_centre)
    run_pairs = tf.math.segment_sum(tf.ones([pair_count]), run)  # pairs in each run
    run_hidden = input_rows(run_centre)
    hidden = tf.gather(run_hidden, run)
    context_rows = rows(output, context)
    noise_rows = rows(output, noise)
    positive = tf.reduce_sum(hidden * context_rows, axis=1)
    noise_logits = tf.matmul(run_hidden, noise_rows, transpose_b=True)  # [runs, S]
    # A noise word equal to a pair's context word is skipped for that pair, as in
    # word2vec.c: such (pair, noise word) hits are rare, so they are corrected sparsely.
    # Pairs whose context word is among the noise words, by binary search of the
    # sorted noise words; then their (pair, noise column) cells.
    sorted_noise = tf.sort(noise)
    found = tf.gather(sorted_noise, tf.minimum(
        tf.searchsorted(sorted_noise, context), num_sampled - 1))
    candidates = tf.where(tf.equal(found, context))[:, 0]
    hits = tf.where(tf.equal(tf.gather(context, candidates)[:, None], noise[None, :]))
    hit_pairs = tf.gather(candidates, hits[:, 0])
    hit_cells = tf.stack([tf.gather(run, hit_pairs), tf.cast(hits[:, 1], tf.int32)], 1)
    hit_counts = tf.scatter_nd(hit_cells, tf.ones(tf.shape(hit_pairs)),
                               [run_count, num_sampled])
    scale = negative / num_sampled
    noise_weights = scale * (run_pairs[:, None] - hit_counts)
    noise_probability = tf.sigmoid(noise_logits)
    # softplus(x) = max(x, 0) - log σ(|x|), from the σ(x) the gradient needs (cheaper
    # than TF's Softplus kernel): σ(|x|) is σ(x) for x ≥ 0 and 1 - σ(x) for x < 0, in
    # [0.5, 1] either way, so no cancellation (absolute error ~1e-7).
    noise_losses = tf.nn.relu(noise_logits) - tf.math.log(tf.where(
        noise_logits >= 0, noise_probability, 1.0 - noise_probability))
    pair_noise_loss = tf.gather(scale * tf.reduce_sum(noise_losses, axis=1), run)
    hit_loss = tf.scatter_nd(hit_pairs[:, None],
                             scale * tf.gather_nd(noise_losses, hit_cells),
                             tf.shape(centre, tf.int64))
    losses = tf.nn.softplus(-positive) + pair_noise_loss - hit_loss
    positive_grad = tf.sigmoid(positive) - 1.0  # d loss / d positive logit
    noise_grad = noise_probability * noise_weights  # d loss / d noise logits
    run_noise_grad = tf.matmul(noise_grad, noise_rows)
    if pair_rows:
        hidden_grad = positive_grad[:, None] * context_rows + tf.gather(
            run_noise_grad / run_pairs[:, None], run)
        hidden_ids = centre
    else:
        hidden_grad = tf.math.segment_sum(positive_grad[:, None] * context_rows,
                                          run) + run_noise_grad
        hidden_ids = run_centre
    output_grad = tf.concat([positive_grad[:, None] * hidden,
                             tf.matmul(noise_grad, run_hidden, transpose_a=True)], axis=0)
    return losses, (hidden_ids, hidden_grad), tf.IndexedSlices(
        output_grad, tf.concat([context, noise], 0), dense_shape(output))
