"""Serving export: a versioned TF Serving SavedModel that answers raw strings.

``export(export_dir, words, embeddings, tokenizer, output_kernel)`` writes
``export_dir/VERSION/`` (TF Serving's model base path layout; VERSION is one more
than the largest existing version) through a temporary directory beside it and a
rename, so a server watching ``export_dir`` never sees half a model:

* ``saved_model.pb``, ``variables/``: signatures ``lookup`` (also
  ``serving_default``), ``nearest``, ``analogy``, ``embed`` (sentences → one vector
  each, for ``keras.layers.TFSMLayer(path, call_endpoint="embed")``) and, when an
  output layer is given, ``context``;
* ``assets/vocab.txt`` (the words, one per line, row i of the matrix on line i)
  and ``assets/vocab_keys.tsv`` (``KEY<TAB>ROW``): lookup tables initialised
  from these assets, so the directory can be copied anywhere;
* ``assets.extra/tf_serving_warmup_requests``: one PredictionLog per signature;
* ``assets.extra/vectors.bin`` (word2vec binary) and ``vectors.tsv`` +
  ``metadata.tsv`` (projector.tensorflow.org, the PROJECTOR_WORDS most frequent words).

Every signature takes raw UTF-8 strings, normalises them in-graph as training
did (:func:`sg_keras.text.tokenize`) and joins the
tokens with one space: that *key* is looked up. A vocabulary word is found under
its own key (the first, most frequent word wins when several share one, e.g.
``Soviet`` and ``soviet`` in an imported file), so ``"Soviet"``, ``"soviet "`` and ``"SOVIET"``
find ``soviet`` with the ``unicode`` tokeniser, and ``"new york"`` is found only if
a vocabulary word normalises to ``new york`` (such as ``New_York`` in GoogleNews
vectors; never for a trained vocabulary, whose words are single tokens). A string
that normalises to nothing (empty, whitespace, punctuation) is out of vocabulary.

With subwords (a model trained with ``--max_n``, a fastText ``.bin``), the export also
holds the n-gram buckets' vectors, and a key not in the vocabulary is answered from
its character n-grams in-graph (sg_keras.subwords: fastText's n-grams and hash, core
TensorFlow ops): ``in_vocabulary`` stays false for it, but ``lookup`` gives its
vector and ``nearest``, ``analogy`` and ``context`` answer it. A key without any
n-gram (shorter than ``min_n`` - 2 characters) still gets zeros and empty answers.
"""

import os
import re
import tempfile

import numpy as np
import tensorflow as tf

from sg_keras import fasttext_format, neighbours, objectives, subwords, text, vectors
from sg_keras.errors import UsageError
from sg_keras.io_utils import atomic_directory, first_missing, make_readable, remove_empty_dirs
from sg_keras.model_dir import ModelDir
from sg_keras.word_vectors import WordVectors

VOCAB_ASSET = "vocab.txt"
KEYS_ASSET = "vocab_keys.tsv"
EXTRA_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
BINARY_VECTORS = "vectors.bin"
PROJECTOR_WORDS = 100_000
KEY_SEPARATOR = " "
MIN_WORDS = 4  # analogy excludes a, b and c and still needs a candidate
# The tensorflow-text ops the serving graph may use (a test checks the graph):
# long-standing ops, in TF Text since 2019-20 and linked by TF Serving since 2.2.
TF_TEXT_OPS = frozenset({"CaseFoldUTF8", "NormalizeUTF8", "RegexSplitWithOffsets"})

_WORDS = tf.TensorSpec([None], tf.string, name="words")
# k is a scalar, or one value per query, all equal: TF Serving's row form
# ("instances") repeats it in every instance, which makes it a vector.
_K = tf.TensorSpec(None, tf.int32, name="k")


def query_keys(words, tokenizer, phrases=None):
    """The lookup key of each string [N]: its training tokens (their phrases joined, given
    a sg_keras.phrases.PhraseTable) joined by one space."""
    tokens = text.tokenize(words, tokenizer)
    if phrases is not None:
        tokens = phrases.join(tokens)
    return tf.strings.reduce_join(tokens, axis=1, separator=KEY_SEPARATOR)


def _number_of_results(k, largest, meaning):
    """The scalar k from a scalar or per-query k, checked to lie in 1..largest."""
    k = tf.reshape(k, [-1])
    with tf.control_dependencies([tf.debugging.assert_greater(
            tf.size(k), 0, message="k is empty: give k as a scalar or once per query")]):
        first = k[0]
    checks = [
        tf.debugging.assert_equal(k, first, message="k must be the same for every query"),
        tf.debugging.assert_greater_equal(first, 1, message="k must be at least 1"),
        tf.debugging.assert_less_equal(
            first, largest, message=f"k must be at most {largest} ({meaning})"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(first)


class WordVectorServer(tf.Module):
    """The serving graph over word vectors: lookup, nearest and analogy signatures.

    Args:
      words: the vocabulary, most frequent first (row i of ``embeddings`` is words[i]).
      embeddings: [V, d] float32 word vectors.
      tokenizer: the training tokeniser (see sg_keras.text.TOKENIZERS).
      asset_dir: an existing directory for the vocabulary asset files (the
        SavedModel copies them into its ``assets/``).
      ngram_vectors: [buckets, d] float32 n-gram vectors (subwords), or None.
      min_n, max_n: the n-gram lengths of ``ngram_vectors``.
      phrases: the training run's PhraseTable (``New York`` is looked up as ``new_york``),
        or None.
    """

    def __init__(self, words, embeddings, tokenizer, asset_dir, ngram_vectors=None, min_n=0,
                 max_n=0, phrases=None):
        super().__init__()
        self.tokenizer = tokenizer
        self.phrases = phrases
        self.phrase_tables = phrases.tables if phrases is not None else []  # tracked
        self.vocab_size = embeddings.shape[0]
        self.min_n, self.max_n = min_n, max_n
        self.ngram_vectors = None
        if ngram_vectors is not None:
            self.ngram_vectors = tf.Variable(ngram_vectors, trainable=False, name="ngram_vectors")
        self.embeddings = tf.Variable(embeddings, trainable=False, name="embeddings")
        self.inverse_norms = tf.Variable(neighbours.inverse_norms(self.embeddings),
                                         trainable=False, name="inverse_norms")
        vocab_path, keys_path = _write_vocab_assets(asset_dir, words, tokenizer, phrases)
        self.word_rows = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                tf.saved_model.Asset(keys_path), tf.string, 0, tf.int64, 1, delimiter="\t"),
            default_value=-1)
        self.row_words = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                tf.saved_model.Asset(vocab_path), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, vocab_size=self.vocab_size),
            default_value="")

    def signatures(self):
        """Signature name → concrete function, as tf.saved_model.save takes them."""
        return {"serving_default": self.lookup, "lookup": self.lookup,
                "nearest": self.nearest, "analogy": self.analogy, "embed": self.embed}

    def _queries(self, words):
        """(row [N] int64, -1 out of vocabulary; vector [N, d]; in_vocabulary [N];
        answered [N]: in the vocabulary, or composed from its n-grams) of each query."""
        return self._key_vectors(query_keys(words, self.tokenizer, self.phrases))

    def _key_vectors(self, keys):
        """_queries' answers for lookup keys [N]."""
        rows = self.word_rows.lookup(keys)
        known = rows >= 0
        vectors = tf.gather(self._read()[0], tf.maximum(rows, 0))
        if self.ngram_vectors is None:
            return rows, tf.where(known[:, None], vectors, 0.0), known, known
        unseen, has_ngrams = subwords.unseen_word_vectors(
            keys, self.ngram_vectors.value(), self.min_n, self.max_n)
        answered = known | ((keys != "") & has_ngrams)
        vectors = tf.where(known[:, None], vectors, tf.where(answered[:, None], unseen, 0.0))
        return rows, vectors, known, answered

    def _read(self):
        """(embeddings [V, d], inverse norms [V]), read whole.

        Gathering rows straight from the variables would switch them to
        copy-on-read mode: a copy of the whole matrix on every call.
        """
        return self.embeddings.value(), self.inverse_norms.value()

    def _top(self, scores, k, answered, known, words_name, scores_name):
        """The k best words of each row; rows of unanswered queries are "" and 0."""
        best = tf.math.top_k(scores, k)
        found = self.row_words.lookup(tf.cast(best.indices, tf.int64))
        return {words_name: tf.where(answered[:, None], found, ""),
                scores_name: tf.where(answered[:, None], best.values, 0.0),
                "in_vocabulary": known}

    @tf.function(input_signature=[_WORDS])
    def lookup(self, words):
        """words [N] → embeddings [N, d] (zeros when unknown), in_vocabulary [N]."""
        _, vectors, known, _ = self._queries(words)
        return {"embeddings": vectors, "in_vocabulary": known}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
    def embed(self, sentences):
        """sentences [N] → embeddings [N, d]: each sentence's tokens' vectors combined as TF
        Hub's text embeddings combine them (sqrt-n: their sum / the square root of their
        number). Tokens as in training (phrases joined); with subwords an unseen token's
        vector from its n-grams; a token without a vector is left out, a sentence without
        any gets zeros."""
        tokens = text.tokenize(sentences, self.tokenizer)
        if self.phrases is not None:
            tokens = self.phrases.join(tokens)
        _, vectors, _, answered = self._key_vectors(tokens.flat_values)
        sentence_of_token, count = tokens.value_rowids(), tokens.nrows()
        sums = tf.math.unsorted_segment_sum(vectors, sentence_of_token, count)  # 0 if unanswered
        tokens_with_vectors = tf.math.unsorted_segment_sum(
            tf.cast(answered, tf.float32), sentence_of_token, count)
        return {"embeddings": tf.math.divide_no_nan(sums, tf.sqrt(tokens_with_vectors)[:, None])}

    @tf.function(input_signature=[_WORDS, _K])
    def nearest(self, words, k):
        """words [N], k → neighbors [N, k], scores [N, k] (cosine), in_vocabulary [N]."""
        k = _number_of_results(k, self.vocab_size - 1, "the vocabulary minus the query word")
        vectors, inverse_norms = self._read()
        rows, query_vectors, known, answered = self._queries(words)
        queries = query_vectors * neighbours.inverse_norms(query_vectors)[:, None]
        scores = neighbours.cosines(vectors, inverse_norms, queries)
        scores = tf.where(known[:, None], neighbours.exclude(scores, tf.maximum(rows, 0)[:, None]),
                          scores)
        return self._top(scores, k, answered, known, "neighbors", "scores")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="a"),
                                  tf.TensorSpec([None], tf.string, name="b"),
                                  tf.TensorSpec([None], tf.string, name="c"), _K])
    def analogy(self, a, b, c, k):
        """a is to b as c is to d: the k best d by 3CosAdd, cos(d,b) - cos(d,a) + cos(d,c).

        a, b, c [N], k → d [N, k], scores [N, k], in_vocabulary [N] (a, b and c all known);
        a, b and c are never answers.
        """
        with tf.control_dependencies([
                tf.debugging.assert_equal(tf.size(a), tf.size(b), message="a, b and c "
                                          "must have the same length"),
                tf.debugging.assert_equal(tf.size(a), tf.size(c), message="a, b and c "
                                          "must have the same length")]):
            k = _number_of_results(k, self.vocab_size - 3, "the vocabulary minus a, b and c")
        vectors, inverse_norms = self._read()
        queries = [self._queries(words) for words in (a, b, c)]
        a_unit, b_unit, c_unit = (
            query_vectors * neighbours.inverse_norms(query_vectors)[:, None]
            for _, query_vectors, _, _ in queries)
        scores = neighbours.cosines(vectors, inverse_norms, b_unit - a_unit + c_unit)
        for rows, _, known, _ in queries:  # a, b and c are never answers
            scores = tf.where(known[:, None],
                              neighbours.exclude(scores, tf.maximum(rows, 0)[:, None]), scores)
        answered = tf.reduce_all(tf.stack([query[3] for query in queries]), axis=0)
        known = tf.reduce_all(tf.stack([query[2] for query in queries]), axis=0)
        return self._top(scores, k, answered, known, "d", "scores")


class SkipGramServer(WordVectorServer):
    """WordVectorServer plus ``context``: the skip-gram output layer's softmax.

    ``output_kernel`` [V, d] is the output layer (logits = vector @ kernel^T); with
    ``tree`` (hierarchical softmax: sg_keras.huffman.paths' nodes, codes, splits) its rows
    are the tree's inner nodes and P(context | word) the product along each word's path.
    """

    def __init__(self, words, embeddings, tokenizer, asset_dir, output_kernel, tree=None,
                 **options):
        super().__init__(words, embeddings, tokenizer, asset_dir, **options)
        self.output_kernel = tf.Variable(output_kernel, trainable=False, name="output_kernel")
        self.tree = None if tree is None else [
            tf.Variable(part, trainable=False, name=name)
            for part, name in zip(tree, ("path_nodes", "path_codes", "path_splits"))]

    def signatures(self):
        return {**super().signatures(), "context": self.context}

    @tf.function(input_signature=[_WORDS, _K])
    def context(self, words, k):
        """words [N], k → words [N, k], probabilities [N, k], in_vocabulary [N].

        The k most probable context words P(context | word) of the output layer.
        """
        k = _number_of_results(k, self.vocab_size, "the vocabulary size")
        _, hidden, known, answered = self._queries(words)
        if self.tree is None:
            probabilities = tf.nn.softmax(tf.matmul(hidden, self.output_kernel,
                                                    transpose_b=True))
        else:
            probabilities = tf.exp(objectives.tree_log_probabilities(
                hidden, self.output_kernel, *self.tree))
        return self._top(probabilities, k, answered, known, "words", "probabilities")


def served_word(word):
    """The word as the serving vocabulary holds it: one non-empty line of vocab.txt."""
    return re.sub(r"[\r\n]", "\ufffd", word) or "\ufffd"


def _write_vocab_assets(directory, words, tokenizer, phrases=None, batch=65536):
    """Writes vocab.txt (words) and vocab_keys.tsv (KEY<TAB>ROW, first row per key)."""
    rows = {}
    for start in range(0, len(words), batch):
        keys = query_keys(tf.constant(words[start:start + batch], tf.string), tokenizer,
                          phrases)
        for offset, key in enumerate(keys.numpy()):
            if key:
                rows.setdefault(key.decode("utf-8"), start + offset)
    vocab_path = os.path.join(directory, VOCAB_ASSET)
    keys_path = os.path.join(directory, KEYS_ASSET)
    with open(vocab_path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(served_word(word) + "\n" for word in words)
    with open(keys_path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(f"{key}\t{row}\n" for key, row in rows.items())
    return vocab_path, keys_path


def versions(export_dir):
    """The version numbers under a TF Serving model base path (its integer-named
    directories), in increasing order; [] when it does not exist."""
    if not os.path.isdir(export_dir):
        return []
    return sorted(int(name) for name in os.listdir(export_dir)
                  if re.fullmatch(r"[0-9]+", name)
                  and os.path.isdir(os.path.join(export_dir, name)))


def next_version(export_dir):
    """1 + the largest version under export_dir (1 if none)."""
    return max(versions(export_dir), default=0) + 1


def warmup_requests(model_name, signatures, words, vocab_size):
    """One PredictionLog (tensorflow-serving-api) per signature, asking about ``words``."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    def strings(values):
        return tf.make_tensor_proto(np.array(values, dtype=object), tf.string)

    k_of = {"nearest": vocab_size - 1, "context": vocab_size, "analogy": vocab_size - 3}
    logs = []
    for name in signatures:
        if name == "analogy":
            inputs = {"a": strings(words[:1]), "b": strings(words[1:2]), "c": strings(words[2:3])}
        elif name == "embed":
            inputs = {"sentences": strings([" ".join(words), words[0]])}
        else:
            inputs = {"words": strings(words)}
        if name in k_of:
            inputs["k"] = tf.make_tensor_proto(min(10, k_of[name]), tf.int32)
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=name))
        for key, tensor in inputs.items():
            request.inputs[key].CopyFrom(tensor)
        logs.append(prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def _check_vectors(words, embeddings, output_kernel):
    if embeddings.ndim != 2 or embeddings.shape[0] != len(words):
        raise UsageError(f"expected {len(words)} word vectors, got an array of shape "
                         f"{embeddings.shape}")
    if len(words) < MIN_WORDS:
        raise UsageError(f"a serving export needs at least {MIN_WORDS} words, got {len(words)}")
    if output_kernel is not None and output_kernel.shape != embeddings.shape:
        raise UsageError(f"the output layer has shape {output_kernel.shape}, "
                         f"the word vectors {embeddings.shape}")


def export(export_dir, words, embeddings, tokenizer="unicode", output_kernel=None,
           ngram_vectors=None, min_n=0, max_n=0, phrases=None, tree=None):
    """Writes the serving SavedModel to export_dir/VERSION; returns that path.

    Without ``output_kernel`` (imported vectors) there is no ``context`` signature; with
    ``tree`` (a hierarchical-softmax model's paths) ``context`` answers along the tree.
    With ``ngram_vectors`` [buckets, d] (n-grams of ``min_n`` … ``max_n`` characters),
    unseen words are answered from their n-grams. With ``phrases`` (a PhraseTable) a
    query's words are joined into phrases as in training.
    On any error nothing is left behind, not even a newly created export_dir.
    """
    text.check_tokenizer(tokenizer)
    words = list(words)
    embeddings = np.asarray(embeddings, np.float32)
    if output_kernel is not None:
        output_kernel = np.asarray(output_kernel, np.float32)
    _check_vectors(words, embeddings, output_kernel)
    export_dir = os.path.abspath(export_dir)
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise UsageError(f"--export_dir {export_dir} exists and is not a directory")
    created = first_missing(export_dir)
    path = os.path.join(export_dir, str(next_version(export_dir)))
    server_args = {"phrases": phrases}
    if ngram_vectors is not None:
        server_args.update(ngram_vectors=np.asarray(ngram_vectors, np.float32), min_n=min_n,
                            max_n=max_n)
    try:
        with tempfile.TemporaryDirectory(prefix="sg-keras-export-") as staging:
            if output_kernel is None:
                server = WordVectorServer(words, embeddings, tokenizer, staging, **server_args)
            else:
                server = SkipGramServer(words, embeddings, tokenizer, staging, output_kernel,
                                        tree=tree, **server_args)
            signatures = server.signatures()
            with atomic_directory(path) as partial:
                tf.saved_model.save(server, partial, signatures=signatures)
                _write_extras(os.path.join(partial, EXTRA_DIR), os.path.basename(export_dir),
                              signatures, words, embeddings,
                              with_unseen=ngram_vectors is not None)
                make_readable(partial)
    except BaseException:
        if created:
            remove_empty_dirs(export_dir, created)
        raise
    return path


def unseen_example(words):
    """A word not in ``words``, made from its first two (for warmup requests and examples)."""
    known = set(words)
    candidates = [words[0] + "s", words[0] + words[1], words[1] + words[0] + "s"]
    return next((word for word in candidates if word not in known),
                "".join(words[:4]) + "s")


def _write_extras(directory, model_name, signatures, words, embeddings, with_unseen):
    """The warmup requests (about an unseen word too, with subwords), vectors.bin, the
    projector's files."""
    os.makedirs(directory)
    queries = words[:3] + ([unseen_example(words)] if with_unseen else [])
    with tf.io.TFRecordWriter(os.path.join(directory, WARMUP_FILE)) as writer:
        for log in warmup_requests(model_name, signatures, queries, len(words)):
            writer.write(log.SerializeToString())
    vectors.save_word2vec_binary(os.path.join(directory, BINARY_VECTORS), words, embeddings)
    vectors.save_projector_tsv(directory, words[:PROJECTOR_WORDS], embeddings[:PROJECTOR_WORDS])


def export_trained(model_dir, export_dir):
    """Exports a trained model_dir (every signature, context included); returns the version path.

    Example:

    >>> import os, tempfile
    >>> from sg_keras import TrainConfig, train
    >>> work = tempfile.mkdtemp()
    >>> with open(os.path.join(work, "corpus.txt"), "w") as f:
    ...     _ = f.write("the quick brown fox jumps over the lazy dog\\n" * 50)
    >>> _ = train(TrainConfig(corpus=[os.path.join(work, "corpus.txt")],
    ...                       model_dir=os.path.join(work, "run"), dim=8, min_count=1,
    ...                       epochs=1, tokenizer="whitespace"))
    >>> path = export_trained(os.path.join(work, "run"), os.path.join(work, "served"))
    >>> served = tf.saved_model.load(path)
    >>> result = served.signatures["nearest"](words=tf.constant(["fox"]), k=tf.constant(2))
    >>> result["neighbors"].shape
    TensorShape([1, 2])
    """
    trained = ModelDir(model_dir).load()
    model = trained.model
    options = {"phrases": ModelDir(model_dir).read_phrases()}
    if model.subwords is not None:
        options.update(ngram_vectors=model.ngram_vectors(), min_n=model.subwords["min_n"],
                       max_n=model.subwords["max_n"])
    if model.loss_name == "hs":
        layer = model.context_softmax
        options["tree"] = [weight.numpy() for weight in (layer.nodes, layer.codes,
                                                         layer.splits)]
    return export(export_dir, trained.vocab.words, model.word_vectors(),
                  trained.settings["tokenizer"], model.output_kernel(), **options)


def export_vectors(vectors_path, export_dir, tokenizer="unicode"):
    """Exports a word2vec text or binary file (no ``context`` signature) or a fastText
    ``.bin`` model (with its n-grams, and ``context`` for its ns and softmax models);
    returns the path.

    Example:

    >>> import os, tempfile
    >>> work = tempfile.mkdtemp()
    >>> with open(os.path.join(work, "vectors.txt"), "w") as f:
    ...     _ = f.write("4 2\\nking 1 0\\nqueen 0.9 0.1\\nman 0.5 0.5\\nwoman 0 1\\n")
    >>> path = export_vectors(os.path.join(work, "vectors.txt"), os.path.join(work, "served"),
    ...                       tokenizer="whitespace")
    >>> served = tf.saved_model.load(path)
    >>> served.signatures["nearest"](words=tf.constant(["king"]), k=tf.constant(1))["neighbors"]
    <tf.Tensor: shape=(1, 1), dtype=string, numpy=array([[b'queen']], dtype=object)>
    """
    if fasttext_format.is_fasttext_model(vectors_path):
        model = fasttext_format.load(vectors_path)
        word_vectors = WordVectors.from_fasttext(model)
        return export(export_dir, word_vectors.index_to_key, word_vectors.vectors, tokenizer,
                      model.output_matrix, word_vectors.ngram_vectors, model.min_n, model.max_n)
    words, matrix = vectors.load_word2vec(vectors_path)
    return export(export_dir, words, matrix, tokenizer)

