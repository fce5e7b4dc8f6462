"""sg_keras: skip-gram word2vec the TensorFlow way.

The public API, in the order of the data flow (text → vocabulary → pairs → model →
training → word vectors / export)::

    import sg_keras

    model, vocab, history = sg_keras.train(sg_keras.TrainConfig(
        corpus=["corpus.txt"], model_dir="runs/demo", tokenizer="whitespace"))
    word_vectors = sg_keras.WordVectors.from_model_dir("runs/demo")
    word_vectors.most_similar("king")
    sg_keras.export_trained("runs/demo", "saved_models/demo")   # TF Serving

Each name is imported on first use, so that ``import sg_keras`` itself (and the
command line's start) does not import TensorFlow.
"""

import importlib

_HOMES = {
    "tokenize": "sg_keras.text",
    "Corpus": "sg_keras.corpus",
    "Vocabulary": "sg_keras.vocab",
    "count_vocabulary": "sg_keras.vocab",
    "PhraseTable": "sg_keras.phrases",
    "learn_phrases": "sg_keras.phrases",
    "PairGenerator": "sg_keras.pairs",
    "SkipGram": "sg_keras.model",
    "TrainConfig": "sg_keras.config",
    "train": "sg_keras.training",
    "ModelDir": "sg_keras.model_dir",
    "WordVectors": "sg_keras.word_vectors",
    "TextEmbedding": "sg_keras.text_embedding",
    "export_trained": "sg_keras.export",
    "export_vectors": "sg_keras.export",
}

__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'sg_keras' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
