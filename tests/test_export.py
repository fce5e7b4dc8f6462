"""The serving export: signatures, assets, TF Serving protos, README examples, bad input."""

import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from conftest import REPO, assert_usage_error, config_for, planted_corpus, sg_keras

from sg_keras import export, subwords, training, vectors
from sg_keras.errors import UsageError
from sg_keras.model_dir import ModelDir

SIGNATURES = {"serving_default", "lookup", "nearest", "context", "analogy", "embed"}
OUTPUTS = {  # signature → {output: (dtype, rank)}
    "lookup": {"embeddings": ("DT_FLOAT", 2), "in_vocabulary": ("DT_BOOL", 1)},
    "nearest": {"neighbors": ("DT_STRING", 2), "scores": ("DT_FLOAT", 2),
                "in_vocabulary": ("DT_BOOL", 1)},
    "context": {"words": ("DT_STRING", 2), "probabilities": ("DT_FLOAT", 2),
                "in_vocabulary": ("DT_BOOL", 1)},
    "analogy": {"d": ("DT_STRING", 2), "scores": ("DT_FLOAT", 2), "in_vocabulary": ("DT_BOOL", 1)},
    "embed": {"embeddings": ("DT_FLOAT", 2)},
}
OUTPUTS["serving_default"] = OUTPUTS["lookup"]

# The toy model of the README's REST examples: 8 words, d = 3, and an output layer.
TOPICS = {"cat0": {f"cat{i}" for i in range(8)},
          "moscow": {"soviet", "union", "moscow", "kremlin", "lenin", "stalin", "russia",
                     "politburo"}}
TOY_WORDS = ["the", "soviet", "union", "moscow", "king", "queen", "man", "woman"]
TOY_VECTORS = np.array([[-0.1, 0, -0.1], [0, 0, 1], [0.2, 0, 0.9], [0.3, 0.1, 0.8],
                        [1, 0.5, 0.1], [1, -0.5, 0.1], [0.1, 1, 0], [0.1, -1, 0]], np.float32)
TOY_KERNEL = np.array([[0, 0, 0], [0, 0, 0.5], [0.5, 0, 2], [0.5, 0, 1.5],
                       [1, 0.5, 0], [1, -0.5, 0], [0, 1, 0], [0, -1, 0]], np.float32)


def unit_rows(matrix):
    """The rows of ``matrix`` scaled to unit length (numpy)."""
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def soviet_corpus(path):
    """The planted corpus plus sentences about the Soviet Union in mixed case and punctuation."""
    planted_corpus(path)
    rng = random.Random(1)
    topic = ["Soviet", "Union", "Moscow", "Kremlin", "Lenin", "Stalin", "Russia", "Politburo"]
    with open(path, "a", encoding="utf-8") as f:
        for _ in range(500):
            words = [rng.choice([str.lower, str.upper, str.title])(rng.choice(topic))
                     for _ in range(12)]
            f.write(", ".join(words) + ".\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model_dir, words, vectors, output kernel) of a tiny model (unicode tokeniser)."""
    root = tmp_path_factory.mktemp("trained")
    soviet_corpus(root / "corpus.txt")
    training.train(config_for(root / "corpus.txt", root / "model", tokenizer="unicode", epochs=2))
    trained = ModelDir(root / "model").load()
    model, vocab = trained.model, trained.vocab
    kernel = tf.convert_to_tensor(model.context_softmax.kernel).numpy()
    return root / "model", vocab.words, model.word_vectors(), kernel


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The version directory of `sg-keras export`, copied elsewhere with the original deleted."""
    root = tmp_path_factory.mktemp("export")
    result = sg_keras("export", f"--model_dir={trained[0]}", "--export_dir=saved_models/words",
                      cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"exported {root / 'saved_models' / 'words' / '1'}"
    moved = root / "elsewhere" / "words"
    shutil.copytree(root / "saved_models" / "words", moved)
    shutil.rmtree(root / "saved_models")
    return moved / "1"


@pytest.fixture(scope="module")
def served(exported):
    return tf.saved_model.load(str(exported))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    path = export.export(tmp_path_factory.mktemp("toy") / "words", TOY_WORDS, TOY_VECTORS,
                         "unicode", TOY_KERNEL)
    return tf.saved_model.load(path)


TOY_BUCKETS, TOY_MIN_N, TOY_MAX_N = 1000, 3, 4


def toy_ngram_vectors():
    """The toy words' n-gram vectors: each bucket's row, the mean of the vectors of the toy
    words that have an n-gram in it (as if training had put them there)."""
    buckets = subwords.ngram_buckets(tf.constant(TOY_WORDS), TOY_MIN_N, TOY_MAX_N,
                                     TOY_BUCKETS).to_list()
    rows = np.zeros((TOY_BUCKETS, 3), np.float32)
    counts = np.zeros(TOY_BUCKETS)
    for vector, word_buckets in zip(TOY_VECTORS, buckets):
        for bucket in set(word_buckets):
            rows[bucket] += vector
            counts[bucket] += 1
    return rows / np.maximum(counts, 1)[:, None]


@pytest.fixture(scope="module")
def toy_subwords(tmp_path_factory):
    """The toy model with n-gram vectors: unseen words are answered from their n-grams."""
    path = export.export(tmp_path_factory.mktemp("toy") / "subwords", TOY_WORDS, TOY_VECTORS,
                         "unicode", TOY_KERNEL, toy_ngram_vectors(), TOY_MIN_N, TOY_MAX_N)
    return tf.saved_model.load(path)


def call(model, signature, **inputs):
    """Runs a signature on Python values; returns numpy outputs."""
    function = model.signatures[signature]
    specs = function.structured_input_signature[1]
    tensors = {name: tf.constant(value, specs[name].dtype) for name, value in inputs.items()}
    return {name: value.numpy() for name, value in function(**tensors).items()}


def texts(array):
    return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist()


def graph_ops(path):
    """Every op type in a SavedModel's graph and function library."""
    saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    functions = {function.signature.name for function in graph.library.function}
    ops = ({node.op for node in graph.node}
           | {node.op for function in graph.library.function for node in function.node_def})
    return ops - functions  # calls of the graph's own functions are not ops


def test_layout_assets_warmup_and_vectors(trained, exported):
    _, words, matrix, _ = trained
    assert sorted(os.listdir(exported.parent)) == ["1"]  # no temporary directory left
    names = {os.path.relpath(os.path.join(d, f), exported)
             for d, _, files in os.walk(exported) for f in files}
    assert {"saved_model.pb", "assets/vocab.txt", "assets/vocab_keys.tsv",
            "assets.extra/tf_serving_warmup_requests", "assets.extra/vectors.bin",
            "assets.extra/vectors.tsv", "assets.extra/metadata.tsv"} <= names
    assert (exported / "assets" / "vocab.txt").read_text(encoding="utf-8") == "".join(
        w + "\n" for w in words)
    umask = os.umask(0)
    os.umask(umask)
    for root, _, files in os.walk(exported):  # readable by a server's user
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o777 & ~umask, root
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o666 & ~umask
    loaded_words, loaded = vectors.load_word2vec(str(exported / "assets.extra" / "vectors.bin"))
    assert loaded_words == words
    np.testing.assert_array_equal(loaded, matrix)


def test_each_export_is_the_next_version(tmp_path):
    base = tmp_path / "words"
    for name in ("1", "3", "notes"):
        (base / name).mkdir(parents=True)
    (base / "9").write_text("a file, not a version")
    path = export.export(base, TOY_WORDS, TOY_VECTORS)
    assert path == str(base / "4") and (base / "4" / "saved_model.pb").exists()
    assert export.export(base, TOY_WORDS, TOY_VECTORS) == str(base / "5")
    assert export.versions(base) == [1, 3, 4, 5]  # what the pipeline's Pusher reads
    assert export.versions(tmp_path / "absent") == []
    assert sorted(os.listdir(base)) == ["1", "3", "4", "5", "9", "notes"]


FRESH_PROCESS = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401 (the TF Text ops, as the TF Serving binary links them)

model = tf.saved_model.load(sys.argv[1])
def run(name, **inputs):
    function = model.signatures[name]
    specs = function.structured_input_signature[1]
    try:
        outputs = function(**{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()})
    except tf.errors.InvalidArgumentError as error:
        return {"error": error.message}
    return {k: v.numpy().tolist() if v.dtype != tf.string else
            [[w.decode() for w in row] if isinstance(row, list) else row.decode()
             for row in v.numpy().tolist()] for k, v in outputs.items()}
results = {
    "serving_default": run("serving_default", words=["Soviet", "zebra"]),
    "lookup": run("lookup", words=["SOVIET", "soviet ", "", "  ", "x" * 2**20,
                                   b"\xff\xfe", "new york"]),
    "lookup_empty": run("lookup", words=[]),
    "nearest": run("nearest", words=["cat1", "zebra"], k=3),
    "context": run("context", words=["Moscow"], k=3),
    "analogy": run("analogy", a=["cat0"], b=["cat1"], c=["sea0"], k=2),
    "nearest_k0": run("nearest", words=["cat1"], k=0),
    "embed": run("embed", sentences=["CAT1 cat2 zebra", "zebra", ""]),
    "lookup_cats": run("lookup", words=["cat1", "cat2"]),
}
print(json.dumps({"signatures": sorted(model.signatures), "results": results,
                  "sg_keras_imported": any(m.split(".")[0] == "sg_keras" for m in sys.modules)}))
"""


def test_a_fresh_tensorflow_process_calls_every_signature(exported, tmp_path):
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(exported)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert not report["sg_keras_imported"]
    assert set(report["signatures"]) == SIGNATURES
    results = report["results"]
    assert results["serving_default"]["in_vocabulary"] == [True, False]
    assert results["lookup"]["in_vocabulary"] == [True, True] + [False] * 5
    assert results["lookup"]["embeddings"][0] == results["lookup"]["embeddings"][1]
    assert results["lookup_empty"] == {"embeddings": [], "in_vocabulary": []}
    assert results["nearest"]["in_vocabulary"] == [True, False]
    assert all(w.startswith("cat") for w in results["nearest"]["neighbors"][0])
    assert results["nearest"]["neighbors"][1] == ["", "", ""]
    assert len(results["context"]["words"][0]) == 3
    assert len(results["analogy"]["d"][0]) == 2
    assert "k must be at least 1" in results["nearest_k0"]["error"]
    cat1, cat2 = np.array(results["lookup_cats"]["embeddings"])
    embedded = np.array(results["embed"]["embeddings"])
    np.testing.assert_allclose(embedded[0], (cat1 + cat2) / np.sqrt(2), rtol=1e-5)  # sqrt-n
    assert (embedded[1:] == 0).all()  # no known token


def test_saved_model_cli_shows_the_signatures(exported):
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "saved_model_cli"),
                             "show", "--dir", str(exported), "--all"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    blocks = dict(re.findall(r"signature_def\['(\w+)'\]:\n(.*?)Method name is:",
                             result.stdout, re.S))
    assert set(blocks) == SIGNATURES | {"__saved_model_init_op"}
    for name in SIGNATURES:
        inputs, outputs = blocks[name].split("output(s):")
        found = dict(re.findall(r"inputs\['(\w+)'\] tensor_info:\s+dtype: (\w+)", inputs))
        strings = {"analogy": {"a", "b", "c"}, "embed": {"sentences"}}.get(name, {"words"})
        assert found == {**{s: "DT_STRING" for s in strings},
                         **({} if name in ("lookup", "serving_default", "embed")
                            else {"k": "DT_INT32"})}
        found = {key: (dtype, shape.count(",") + 1) for key, dtype, shape in re.findall(
            r"outputs\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: \(([^)]*)\)", outputs)}
        assert found == OUTPUTS[name]
    assert "Method name is: tensorflow/serving/predict" in result.stdout


def test_the_graph_uses_only_long_standing_tf_text_ops(exported, tmp_path):
    export.export(tmp_path / "w", TOY_WORDS, TOY_VECTORS, "whitespace")
    custom = {op for op in graph_ops(exported) if not hasattr(tf.raw_ops, op)}
    assert custom == export.TF_TEXT_OPS  # unicode
    assert "ResourceGather" not in graph_ops(exported)  # would copy the matrix on every call
    # whitespace: core TensorFlow ops only
    assert {op for op in graph_ops(tmp_path / "w" / "1") if not hasattr(tf.raw_ops, op)} == set()


def test_lookup_normalises_like_training(served, trained):
    _, words, matrix, _ = trained
    soviet = matrix[words.index("soviet")]
    out = call(served, "lookup", words=["Soviet", "soviet ", "SOVIET", "Soviet,", b"soviet\xff",
                                        "moscow"])
    assert out["in_vocabulary"].all()
    for row in out["embeddings"][:5]:
        np.testing.assert_array_equal(row, soviet)
    np.testing.assert_array_equal(out["embeddings"][5], matrix[words.index("moscow")])


@pytest.mark.parametrize("query", ["", "   ", "\t\n", "...", "x" * 2**20, b"\xff\xfe\xfd",
                                   "new york", "soviet union", "zebra"])
def test_unknown_or_odd_strings_are_out_of_vocabulary(served, query):
    out = call(served, "lookup", words=[query, "cat0"])
    assert out["in_vocabulary"].tolist() == [False, True]
    assert not out["embeddings"][0].any() and out["embeddings"][1].any()
    out = call(served, "nearest", words=[query], k=2)
    assert texts(out["neighbors"]) == [["", ""]] and not out["scores"].any()


def test_an_empty_batch_gives_empty_results(served, trained):
    dim = trained[2].shape[1]
    assert call(served, "lookup", words=[])["embeddings"].shape == (0, dim)
    assert call(served, "nearest", words=[], k=4)["neighbors"].shape == (0, 4)
    assert call(served, "context", words=[], k=4)["probabilities"].shape == (0, 4)
    assert call(served, "analogy", a=[], b=[], c=[], k=4)["d"].shape == (0, 4)


def test_nearest_is_cosine_without_the_query_word(served, trained):
    _, words, matrix, _ = trained
    queries = ["cat0", "sea3", "soviet", "the"]
    out = call(served, "nearest", words=queries, k=5)
    for query, found, scores in zip(queries, texts(out["neighbors"]), out["scores"]):
        cosines = unit_rows(matrix) @ unit_rows(matrix)[words.index(query)]
        cosines[words.index(query)] = -np.inf
        ids = np.argsort(-cosines, kind="stable")[:5]
        expected = cosines[ids]
        assert found == [words[i] for i in ids] and query not in found
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert sum(w.startswith("cat") for w in texts(out["neighbors"])[0]) >= 4


def test_context_is_the_output_layer_softmax(served, trained):
    _, words, matrix, kernel = trained
    out = call(served, "context", words=["Cat0", "moscow"], k=len(words))
    for query, found, probabilities in zip(["cat0", "moscow"], texts(out["words"]),
                                           out["probabilities"]):
        logits = kernel @ matrix[words.index(query)]
        expected = np.exp(logits - logits.max())
        expected /= expected.sum()
        order = np.argsort(-expected, kind="stable")
        np.testing.assert_allclose(probabilities, expected[order], rtol=1e-4, atol=1e-7)
        assert set(found) == set(words)
        assert len(TOPICS[query] & set(found[:8])) >= 5  # words of its topic
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1, rtol=1e-5)


def test_context_of_a_hierarchical_softmax_model_is_the_trees_probabilities(tmp_path):
    corpus = tmp_path / "corpus.txt"
    planted_corpus(corpus)
    training.train(config_for(corpus, tmp_path / "model", loss="hs", epochs=2))
    model, vocab = (lambda t: (t.model, t.vocab))(ModelDir(tmp_path / "model").load())
    result = sg_keras("export", f"--model_dir={tmp_path / 'model'}",
                      f"--export_dir={tmp_path / 'served'}")
    assert result.returncode == 0, result.stderr
    served = tf.saved_model.load(str(tmp_path / "served" / "1"))
    out = call(served, "context", words=["cat0", "sea3"], k=len(vocab))
    expected = model(tf.constant([vocab.index()["cat0"], vocab.index()["sea3"]])).numpy()
    for found, probabilities, row in zip(texts(out["words"]), out["probabilities"], expected):
        np.testing.assert_allclose(probabilities, row[[vocab.index()[w] for w in found]],
                                   rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1, rtol=1e-5)
    assert len(TOPICS["cat0"] & set(texts(out["words"])[0][:8])) >= 5  # words of its topic


def test_analogy_is_3cosadd_excluding_a_b_c(served, trained):
    _, words, matrix, _ = trained
    unit = unit_rows(matrix)
    questions = [("cat0", "cat1", "sea0"), ("soviet", "moscow", "car2"), ("the", "the", "sky1")]
    a, b, c = zip(*questions)
    out = call(served, "analogy", a=a, b=b, c=c, k=3)
    for question, found, scores in zip(questions, texts(out["d"]), out["scores"]):
        ids = [words.index(w) for w in question]
        expected = unit @ unit[ids[1]] - unit @ unit[ids[0]] + unit @ unit[ids[2]]
        expected[ids] = -np.inf
        best = np.argsort(-expected, kind="stable")[:3]
        assert found == [words[i] for i in best]
        np.testing.assert_allclose(scores, expected[best], rtol=1e-5, atol=1e-5)
    assert out["in_vocabulary"].all()
    out = call(served, "analogy", a=["cat0"], b=["zebra"], c=["sea0"], k=1)
    assert out["in_vocabulary"].tolist() == [False] and texts(out["d"]) == [[""]]


@pytest.mark.parametrize("signature, k, message", [  # V: the vocabulary size
    ("nearest", lambda V: 0, lambda V: "k must be at least 1"),
    ("nearest", lambda V: -3, lambda V: "k must be at least 1"),
    ("nearest", lambda V: V,
     lambda V: f"k must be at most {V - 1} (the vocabulary minus the query word)"),
    ("context", lambda V: V + 1, lambda V: f"k must be at most {V} (the vocabulary size)"),
    ("analogy", lambda V: V - 2,
     lambda V: f"k must be at most {V - 3} (the vocabulary minus a, b and c)"),
    ("nearest", lambda V: [2, 3], lambda V: "k must be the same for every query"),
    ("nearest", lambda V: [], lambda V: "k is empty"),
])
def test_bad_k_is_an_invalid_argument(served, trained, signature, k, message):
    size = len(trained[1])
    k, message = k(size), message(size)
    inputs = ({"a": ["cat0", "cat1"], "b": ["cat1", "cat2"], "c": ["sea0", "sea1"]}
              if signature == "analogy" else {"words": ["cat0", "cat1"]})
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        call(served, signature, k=k, **inputs)


def test_k_may_come_once_per_query_and_abc_must_match(served):
    out = call(served, "nearest", words=["cat0", "sea0"], k=[3, 3])  # the row form's k
    assert out["neighbors"].shape == (2, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="a, b and c must have the same"):
        call(served, "analogy", a=["cat0", "cat1"], b=["cat1"], c=["sea0"], k=1)


def predict_request(signature, **inputs):
    from tensorflow_serving.apis import model_pb2, predict_pb2

    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name="words", signature_name=signature))
    for name, value in inputs.items():
        dtype = tf.int32 if name == "k" else tf.string
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value, dtype))
    return request


def run_request(model, request):
    """What TF Serving does with a PredictRequest: input TensorProtos → signature → outputs."""
    function = model.signatures[request.model_spec.signature_name or "serving_default"]
    assert set(request.inputs) == set(function.structured_input_signature[1])
    return {name: value.numpy() for name, value in function(
        **{name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}
    ).items()}


def test_predict_requests_and_the_warmup_file_run(served, exported):
    from tensorflow_serving.apis import prediction_log_pb2

    out = run_request(served, predict_request("nearest", words=["Cat2", "sky5"], k=3))
    assert out["neighbors"].shape == (2, 3) and out["in_vocabulary"].all()
    out = run_request(served, predict_request("", words=["SOVIET"]))
    assert out["embeddings"].shape == (1, 16)
    out = run_request(served, predict_request("analogy", a=["cat0"], b=["cat1"], c=["sea0"], k=4))
    assert out["d"].shape == (1, 4)

    warmup = exported / "assets.extra" / "tf_serving_warmup_requests"
    logs = [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(str(warmup))]
    requests = [log.predict_log.request for log in logs]
    assert sorted(r.model_spec.signature_name for r in requests) == sorted(SIGNATURES)
    for request in requests:
        assert request.model_spec.name == "words"
        out = run_request(served, request)
        assert set(out) == set(OUTPUTS[request.model_spec.signature_name])
        if "in_vocabulary" in out:
            assert out["in_vocabulary"].all()
        else:  # embed: sentences of known words
            assert np.abs(out["embeddings"]).sum(axis=1).all()


UNSEEN_WORDS_HEADING = "\n### Unseen words, with subwords\n"


def readme_rest_examples(part=0):
    """(request, response) JSON pairs of the README's serving section, in order: of the toy
    model (part 0), or of the toy model with subwords (part 1: its unseen words' section)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Serving with TensorFlow Serving", 1)[1].split("\n## ", 1)[0]
    section = section.split(UNSEEN_WORDS_HEADING)[part]
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section, re.S)]
    pairs = list(zip(blocks[::2], blocks[1::2]))
    assert len(blocks) == 2 * len(pairs)
    for request, response in pairs:  # rows answer rows, columns answer columns
        assert set(request) - {"signature_name"} in ({"instances"}, {"inputs"})
        assert set(response) == ({"predictions"} if "instances" in request else {"outputs"})
    return pairs


def rest_predict(model, body):
    """TF Serving's REST predict: JSON rows ("instances") or columns ("inputs") → JSON."""
    function = model.signatures[body.get("signature_name", "serving_default")]
    specs = function.structured_input_signature[1]
    if "instances" in body:
        rows = body["instances"]
        if all(isinstance(row, dict) for row in rows):
            columns = {name: [row[name] for row in rows] for name in rows[0]}
        else:  # a signature with one input may list bare values
            columns = {next(iter(specs)): rows}
    else:
        columns = body["inputs"]
    assert set(columns) == set(specs)
    outputs = function(**{name: tf.constant(value, specs[name].dtype)
                          for name, value in columns.items()})
    outputs = {name: (texts(value.numpy()) if value.dtype == tf.string else value.numpy().tolist())
               for name, value in outputs.items()}
    if len(outputs) == 1:  # TF Serving then leaves out the output's name
        (only,) = outputs.values()
        return {"predictions": only} if "instances" in body else {"outputs": only}
    if "instances" in body:
        return {"predictions": [{name: value[i] for name, value in outputs.items()}
                                for i in range(len(rows))]}
    return {"outputs": outputs}


def assert_same_json(actual, expected, where="response"):
    if isinstance(expected, float) or isinstance(actual, float):
        assert actual == pytest.approx(expected, abs=1e-4), where
    elif isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            assert_same_json(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same_json(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, where


def test_readme_rest_examples_replay_on_the_toy_model(toy):
    examples = readme_rest_examples()
    forms = {(q.get("signature_name", "lookup").replace("serving_default", "lookup"),
              "instances" in q) for q, _ in examples}  # serving_default is lookup
    assert forms == {(s, row) for s in SIGNATURES - {"serving_default"} for row in (True, False)}
    for request, response in examples:
        assert_same_json(rest_predict(toy, request), response, json.dumps(request))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert ('docker run -p 8501:8501 -v "$PWD/saved_models/words:/models/words" '
            "-e MODEL_NAME=words tensorflow/serving") in readme


def test_readme_unseen_word_examples_replay_on_the_toy_model_with_subwords(toy_subwords):
    examples = readme_rest_examples(part=1)
    assert {q["signature_name"] for q, _ in examples} == {"lookup", "nearest"}
    for request, response in examples:
        assert_same_json(rest_predict(toy_subwords, request), response, json.dumps(request))


def test_export_of_word2vec_vectors_has_no_context(tmp_path):
    words = ["the", "Soviet", "soviet", "New_York", "king", "queen", "naïve"]
    matrix = np.random.default_rng(0).normal(size=(len(words), 5)).astype(np.float32)
    vectors.save_word2vec_binary(str(tmp_path / "news.bin"), words, matrix)
    result = sg_keras("export", "--vectors=news.bin", "--export_dir=saved_models/news",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no `context` signature" in result.stdout
    served = tf.saved_model.load(str(tmp_path / "saved_models" / "news" / "1"))
    assert set(served.signatures) == SIGNATURES - {"context"}
    out = call(served, "lookup", words=["SOVIET", "soviet", "new york", "New_York", "NAÏVE"])
    assert out["in_vocabulary"].all()  # the first word of each normalised form answers
    for row, word in zip(out["embeddings"], ["Soviet", "Soviet", "New_York", "New_York", "naïve"]):
        np.testing.assert_array_equal(row, matrix[words.index(word)])
    out = call(served, "nearest", words=["king"], k=len(words) - 1)
    assert sorted(texts(out["neighbors"])[0]) == sorted(set(words) - {"king"})


def test_whitespace_tokenizer_only_splits(tmp_path):
    served = tf.saved_model.load(export.export(tmp_path / "w", TOY_WORDS, TOY_VECTORS,
                                               "whitespace"))
    out = call(served, "lookup", words=[" soviet\t", "Soviet", "soviet union", "soviet,"])
    assert out["in_vocabulary"].tolist() == [True, False, False, False]


def test_vector_files_load_in_gensim(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    words = ["the", "naïve", "東京", "x_y"]
    matrix = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    vectors.save_word2vec_text(str(tmp_path / "v.txt"), words, matrix)
    vectors.save_word2vec_binary(str(tmp_path / "v.bin"), words, matrix)
    for name, binary in (("v.txt", False), ("v.bin", True)):
        loaded = gensim_models.KeyedVectors.load_word2vec_format(str(tmp_path / name),
                                                                 binary=binary)
        assert loaded.index_to_key == words
        np.testing.assert_allclose(loaded.vectors, matrix, rtol=1e-5)
    assert vectors.load_word2vec(str(tmp_path / "v.bin"))[0] == words
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]


def test_projector_tsv_keeps_one_row_per_word(tmp_path):
    words = ["plain", "tab\there", "line\nbreak", "back\\slash", "cr\r"]
    matrix = np.arange(10, dtype=np.float32).reshape(5, 2) / 4
    vectors.save_projector_tsv(str(tmp_path), words, matrix)
    metadata = (tmp_path / "metadata.tsv").read_text(encoding="utf-8").split("\n")
    assert metadata == ["plain", "tab\\there", "line\\nbreak", "back\\\\slash", "cr\\r", ""]
    rows = (tmp_path / "vectors.tsv").read_text().splitlines()
    np.testing.assert_array_equal([[float(x) for x in r.split("\t")] for r in rows], matrix)


def test_a_failed_export_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export, "_write_extras", fail)
    with pytest.raises(OSError, match="disk full"):
        export.export(tmp_path / "saved_models" / "new", TOY_WORDS, TOY_VECTORS)
    assert os.listdir(tmp_path) == []
    (tmp_path / "old" / "1").mkdir(parents=True)
    with pytest.raises(OSError, match="disk full"):
        export.export(tmp_path / "old", TOY_WORDS, TOY_VECTORS)
    assert os.listdir(tmp_path / "old") == ["1"]
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="exists and is not a directory"):
        export.export(tmp_path / "file", TOY_WORDS, TOY_VECTORS)


@pytest.mark.parametrize("args, message", [
    (["--model_dir=empty", "--export_dir=saved_models/w"], "no trained model in empty"),
    (["--vectors=v.txt"], "--export_dir is required"),
    (["--vectors=v.txt", "--model_dir=empty", "--export_dir=saved_models/w"],
     "give exactly one of --model_dir and --vectors"),
])
def test_export_command_rejects_bad_input(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "v.txt").write_text("4 2\na 1 0\nb 0 1\nc 1 1\nd 0 0\n")
    assert_usage_error(sg_keras("export", *args, cwd=tmp_path), message)
    assert not (tmp_path / "saved_models").exists()


@pytest.mark.parametrize("content, tokenizer, message", [
    ("3 2\na 1 0\nb 0 1\nc 1 1\n", "unicode", "at least 4 words, got 3"),
    ("4 2\na 1 0\nb 0 1\nc 1 1\nd 0 0\n", "nltk", "unknown tokenizer 'nltk'"),
    ("4 2\na 1 0\nb 0 1\n", "unicode", "header says 4 words, the file has 2"),
    ("4 2\na 1 0\n", "unicode",
     "the header claims 4 vectors of 2 numbers, more than its 10 bytes can hold"),
])
def test_export_of_bad_vectors_is_a_usage_error(tmp_path, content, tokenizer, message):
    (tmp_path / "v.txt").write_text(content)
    with pytest.raises(UsageError, match=re.escape(message)):
        export.export_vectors(str(tmp_path / "v.txt"), tmp_path / "saved_models" / "w", tokenizer)
    assert os.listdir(tmp_path) == ["v.txt"]
