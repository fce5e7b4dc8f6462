"""The public API: every name in sg_keras.__all__ resolves, is documented with an Example,
and the examples run (doctest)."""

import doctest
import importlib
import inspect
import subprocess
import sys

import pytest

import sg_keras

# The modules whose docstrings carry examples beyond the public names.
EXAMPLE_MODULES = ["sg_keras.io_utils", "sg_keras.text", "sg_keras.corpus", "sg_keras.vocab",
                   "sg_keras.phrases",
                   "sg_keras.pairs", "sg_keras.noise", "sg_keras.huffman", "sg_keras.subwords",
                   "sg_keras.layers",
                   "sg_keras.optimizers", "sg_keras.schedules",
                   "sg_keras.model", "sg_keras.config", "sg_keras.cluster", "sg_keras.strategies",
                   "sg_keras.training", "sg_keras.model_dir", "sg_keras.neighbours",
                   "sg_keras.word_vectors", "sg_keras.text_embedding", "sg_keras.export",
                   "sg_keras.backup",
                   "sg_keras.process"]


@pytest.mark.parametrize("name", sg_keras.__all__)
def test_every_public_name_has_a_docstring_with_an_example(name):
    value = getattr(sg_keras, name)
    assert value.__module__.startswith("sg_keras.")
    assert "Example:" in (inspect.getdoc(value) or ""), f"{name} has no Example"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Word2Vec'"):
        sg_keras.Word2Vec


@pytest.mark.parametrize("module", EXAMPLE_MODULES)
def test_the_examples_run(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write relative paths write here
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(importlib.import_module(module))
    assert any(test.examples for test in tests), f"{module} has no examples"
    for test in tests:
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0 and failed == 0


def test_importing_the_package_does_not_import_tensorflow():
    # The command line imports sg_keras before TensorFlow, to hide TensorFlow's start-up
    # messages and to create MultiWorkerMirroredStrategy before TensorFlow's runtime starts.
    result = subprocess.run([sys.executable, "-c", "import sys, sg_keras, sg_keras.cli; "
                             "print('tensorflow' in sys.modules)"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
