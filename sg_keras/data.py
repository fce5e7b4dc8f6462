"""The default corpus: text8, fetched once into the Keras cache and verified."""

import os
import shutil
import zipfile

import keras

from sg_keras.errors import UsageError

TEXT8_URL = "http://mattmahoney.net/dc/text8.zip"
# The size TensorFlow's classic word2vec example checks (no published hash).
TEXT8_ZIP_BYTES = 31_344_016
OFFLINE_HINT = ("pass a local corpus instead, e.g. "
                "--corpus=../shared/data/wiki10.text8.txt.gz (plain text or .gz)")


def text8_path():
    """Path of the extracted text8 file, downloading text8.zip on first use."""
    try:
        archive = keras.utils.get_file("text8.zip", TEXT8_URL)
    except Exception as error:  # get_file raises bare Exception on network failure
        raise UsageError(f"could not download text8 ({error}); {OFFLINE_HINT}") from None
    if os.path.getsize(archive) != TEXT8_ZIP_BYTES:
        os.remove(archive)
        raise UsageError(f"downloaded text8.zip has the wrong size; {OFFLINE_HINT}")
    extracted = os.path.join(os.path.dirname(archive), "text8")
    if os.path.exists(extracted):
        return extracted
    partial = extracted + ".partial"
    with zipfile.ZipFile(archive) as zipped, zipped.open("text8") as source, \
            open(partial, "wb") as target:
        shutil.copyfileobj(source, target)
    os.replace(partial, extracted)
    return extracted
