"""Writes docs/projector.png: the README's screenshot of TensorBoard's Embedding Projector.

Trains a small model on PTB (../shared/data/ptb.zip) in a temporary directory, serves
its logs with the real ``tensorboard``, opens the projector in headless Chromium
(with tests/live_tensorboard.py, as the browser test does), selects one word so that
its nearest neighbours are highlighted and labelled, and saves the page as a
palette PNG.

Usage (needs the test extras and Debian's chromium, as scripts/test.sh installs):
  .venv/bin/python scripts/projector_screenshot.py [--word=WORD] [--output=docs/projector.png]
"""

import argparse
import io
import json
import pathlib
import sys
import tempfile
import time
import zipfile

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import live_tensorboard  # noqa: E402  (tests/, shared with the browser test)
from PIL import Image  # noqa: E402

from sg_keras import training  # noqa: E402

PTB = REPO.parent / "shared" / "data" / "ptb.zip"


def train_on_ptb(directory):
    """Trains 3 epochs of 64-dimensional vectors on PTB's training text; returns the model_dir."""
    corpus = directory / "ptb.train.txt"
    with zipfile.ZipFile(PTB) as archive:
        corpus.write_bytes(archive.read("ptb/ptb.train.txt"))
    model_dir = directory / "model"
    training.train(training.TrainConfig(corpus=[str(corpus)], model_dir=str(model_dir), dim=64,
                                        epochs=3, tokenizer="whitespace"))
    return model_dir


SELECT_JS = """(() => {
  const find = (root) => {
    for (const element of root.querySelectorAll('*')) {
      if (element.tagName === 'VZ-PROJECTOR') return element;
      const inner = (element.shadowRoot && find(element.shadowRoot))
          || (element.tagName === 'IFRAME' && element.contentDocument && find(element.contentDocument));
      if (inner) return inner;
    }
    return null;
  };
  const projector = find(document);
  const index = projector.dataSet.points.findIndex((point) => point.metadata.word === WORD);
  if (index >= 0) projector.notifySelectionChanged([index]);
  return index;
})()"""


def screenshot(logs, word, size=(1280, 800)):
    """PNG bytes of the projector page of TensorBoard on ``logs`` with ``word`` selected."""
    with live_tensorboard.tensorboard(logs) as url, live_tensorboard.chromium(*size) as page:
        live_tensorboard.wait_for(
            lambda: live_tensorboard.get_json(f"{url}/data/plugins_listing")["projector"]["enabled"],
            60, "the projector plugin to become active")
        page.navigate(f"{url}/#projector")

        def loaded():
            state = live_tensorboard.projector_state(page)
            return state["labels"] and state["positioned"] == len(state["labels"])

        live_tensorboard.wait_for(loaded, 120, "the projector to place every point")
        if page.evaluate(SELECT_JS.replace("WORD", json.dumps(word))) < 0:
            raise SystemExit(f"{word!r} is not in the vocabulary")
        time.sleep(3)  # highlights and labels drawn; the 3-D view orbits slowly on its own
        return page.screenshot()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--word", default="stock", help="the word selected in the projector")
    parser.add_argument("--output", default=str(REPO / "docs" / "projector.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="projector-screenshot-") as directory:
        model_dir = train_on_ptb(pathlib.Path(directory))
        png = screenshot(model_dir / "logs", args.word)
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
    image.save(output, optimize=True)
    print(f"wrote {output} ({output.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
