"""sg_keras: skip-gram word2vec the TensorFlow way."""

from setuptools import find_packages, setup

setup(
    name="sg-keras",
    version="0.1.0",
    description="Skip-gram word2vec with tf.data, tensorflow-text and a Keras subclassed model",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["sg_keras", "sg_keras.*", "pipelines", "pipelines.*"]),
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tensorflow-text>=2.21,<2.22",
        "keras>=3.12,<4",
        "absl-py>=2.1,<3",
        "tensorboard>=2.20,<3",
        "tensorflow-serving-api>=2.21,<2.22",  # PredictionLog protos (export warmup)
        "numpy>=1.26,<3",
        "scipy>=1.11,<2",
    ],
    extras_require={
        # websockets: the TensorBoard browser test speaks the DevTools protocol to chromium;
        # pillow: it looks at the screenshot.
        # apache-beam: tests/test_beam_vocab.py, test_beam_phrases.py run pipelines/beam_*.py.
        # fasttext: tests/test_subwords.py checks fastText's .bin against fastText itself.
        "test": ["pytest>=8,<10", "hypothesis>=6.100,<7", "gensim>=4.3,<5", "websockets>=15,<18",
                 "pillow>=10,<14",
                 "apache-beam>=2.60,<3", "fasttext>=0.9.3,<0.10"],
        "benchmark": ["gensim>=4.3,<5", "fasttext>=0.9.3,<0.10"],
        "beam": ["apache-beam>=2.60,<3"],  # pipelines/beam_vocab.py, beam_phrases.py
    },
    entry_points={"console_scripts": ["sg-keras=sg_keras.cli:run"]},
)
