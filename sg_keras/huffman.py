"""The Huffman tree of hierarchical softmax (``--loss=hs``), built as word2vec.c builds it.

A binary tree whose V leaves are the vocabulary's words and whose V - 1 inner nodes each
hold a row of the output layer; a word's path is the inner nodes from the root down to
its leaf, and its code the branch taken at each (0 or 1). P(word | centre) is the product
along the path of σ(h·v) for code 0 and σ(-h·v) for code 1 (word2vec.c's ``1 - code``
label), so the V probabilities sum to 1 and a pair costs its path's length in sigmoids.
Frequent words get short paths.

As word2vec.c's ``CreateBinaryTree``: the words in order of decreasing count (ties in
vocabulary order), the two least frequent nodes merged again and again by a two-pointer
scan of the leaves and of the new nodes (which come in increasing count), the second of
the two getting code 1; inner node ``V + a`` (the a-th merge) is output row ``a``, the
root row ``V - 2``.
"""

import numpy as np

from sg_keras.errors import UsageError

MAX_CODE_LENGTH = 40  # word2vec.c's MAX_CODE_LENGTH


def paths(counts):
    """(nodes, codes, splits): word i's path is the output rows ``nodes[splits[i]:splits[i
    + 1]]`` (int64, root first) and its branches ``codes[…]`` (float32 0/1).

    Example:

    >>> nodes, codes, splits = paths([5, 3, 2])
    >>> [nodes[splits[i]:splits[i + 1]].tolist() for i in range(3)]
    [[1], [1, 0], [1, 0]]
    >>> [codes[splits[i]:splits[i + 1]].tolist() for i in range(3)]
    [[1.0], [0.0, 1.0], [0.0, 0.0]]
    """
    counts = np.asarray(counts, np.int64)
    size = len(counts)
    if size < 2:
        raise UsageError(f"--loss=hs needs a vocabulary of at least 2 words, got {size}")
    order = np.argsort(-counts, kind="stable")  # by decreasing count, ties in vocab order
    count = np.concatenate([counts[order], np.zeros(size - 1, np.int64)])
    parent = np.zeros(2 * size - 1, np.int64)
    branch = np.zeros(2 * size - 1, np.int8)
    leaf, inner = size - 1, size  # the next least frequent leaf and inner node
    for merge in range(size - 1):
        smallest = []
        for _ in range(2):
            if leaf >= 0 and (inner >= size + merge or count[leaf] < count[inner]):
                smallest.append(leaf)
                leaf -= 1
            else:
                smallest.append(inner)
                inner += 1
        count[size + merge] = count[smallest[0]] + count[smallest[1]]
        parent[smallest] = size + merge
        branch[smallest[1]] = 1
    # Each word's path, walked up from its leaf one level at a time for all words at once.
    root = 2 * size - 2
    node = np.arange(size)  # leaf of the word in position i
    levels, level_codes = [], []
    while np.any(node != root):
        climbing = node != root
        levels.append(np.where(climbing, parent[node] - size, -1))
        level_codes.append(branch[node])
        node = np.where(climbing, parent[node], root)
    lengths_by_position = np.sum(np.array(levels) >= 0, axis=0)
    if lengths_by_position.max() > MAX_CODE_LENGTH:
        raise UsageError(f"--loss=hs: the Huffman tree of these counts is "
                         f"{lengths_by_position.max()} levels deep, more than word2vec.c's "
                         f"{MAX_CODE_LENGTH}")
    lengths = np.empty(size, np.int64)
    lengths[order] = lengths_by_position
    splits = np.concatenate([[0], np.cumsum(lengths)])
    nodes = np.empty(splits[-1], np.int64)
    codes = np.empty(splits[-1], np.float32)
    for level, (level_nodes, level_branches) in enumerate(zip(levels, level_codes)):
        on_path = level < lengths_by_position  # root first: level l is entry length - 1 - l
        words = order[on_path]
        at = splits[words] + lengths_by_position[on_path] - 1 - level
        nodes[at] = level_nodes[on_path]
        codes[at] = level_branches[on_path]
    return nodes, codes, splits
