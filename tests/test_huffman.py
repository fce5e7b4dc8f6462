"""The Huffman tree of hierarchical softmax (sg_keras.huffman) against Huffman's own rule."""

import heapq

import numpy as np
import pytest

from sg_keras import huffman
from sg_keras.errors import UsageError


def word_paths(tree):
    nodes, codes, splits = tree
    return [(nodes[a:b].tolist(), codes[a:b].tolist()) for a, b in zip(splits, splits[1:])]


def huffman_cost(counts):
    """The least total count-weighted code length of any binary prefix code (heapq)."""
    heap = [int(count) for count in counts]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_tree_is_an_optimal_prefix_code_whose_probabilities_sum_to_one(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 1000, size=int(rng.integers(2, 300)))
    counts[::7] = 5  # ties
    tree = huffman.paths(counts)
    paths = word_paths(tree)
    lengths = np.array([len(nodes) for nodes, _ in paths])
    assert (lengths * counts).sum() == huffman_cost(counts)
    codes = ["".join(str(int(c)) for c in path_codes) for _, path_codes in paths]
    assert len(set(codes)) == len(codes)
    assert not any(a != b and b.startswith(a) for a in codes for b in codes)
    # Every path starts at the root, row V - 2, and uses only inner-node rows 0 … V - 2.
    assert all(nodes[0] == len(counts) - 2 for nodes, _ in paths)
    assert 0 <= tree[0].min() and tree[0].max() == len(counts) - 2
    # P(word) = Π σ(±h·v) along the path sums to 1 over the words, for any logits.
    logits = rng.normal(size=len(counts) - 1) * 3
    probabilities = [np.prod([1 / (1 + np.exp(-(1 - 2 * c) * logits[n]))
                              for n, c in zip(nodes, path_codes)])
                     for nodes, path_codes in paths]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-9)


def test_frequent_words_get_the_short_codes_word2vec_c_gives_them():
    # word2vec.c's CreateBinaryTree on counts 5, 3, 2: merge 3+2 (node 0; 2 gets code 1…
    # written root first), then 5 with node 0 at the root (node 1).
    assert word_paths(huffman.paths([5, 3, 2])) == [([1], [1.0]), ([1, 0], [0.0, 1.0]),
                                                     ([1, 0], [0.0, 0.0])]
    # The vocabulary's order does not need to be by count: the tree is the same.
    assert word_paths(huffman.paths([2, 5, 3])) == [([1, 0], [0.0, 0.0]), ([1], [1.0]),
                                                    ([1, 0], [0.0, 1.0])]


def test_a_tree_that_cannot_be_built_is_a_usage_error():
    with pytest.raises(UsageError, match="at least 2 words"):
        huffman.paths([7])
    fibonacci = [1, 1]
    while len(fibonacci) < 45:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    with pytest.raises(UsageError, match="levels deep, more than word2vec.c's 40"):
        huffman.paths(fibonacci[::-1])
