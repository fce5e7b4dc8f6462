"""Files: gzip recognised by content, and atomic writes (a temporary path, then a rename)."""

import contextlib
import gzip
import os
import shutil
import tempfile
import zipfile

GZIP_MAGIC = b"\x1f\x8b"


def _open_local(path):
    return open(path, "rb")


def is_gzip(path, opener=_open_local):
    """Whether the file at ``path`` is gzip-compressed, judged by its first two bytes.

    ``opener`` opens a path as an uncompressed binary stream (default: a local file).
    """
    with opener(path) as probe:
        return probe.read(2) == GZIP_MAGIC


def open_binary(path, opener=_open_local):
    """``path`` opened for reading as bytes, gunzipped when its content is gzip.

    Example:

    >>> import gzip, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> with gzip.open(path, "wb") as f:  # no .gz suffix: the content decides
    ...     _ = f.write(b"the quick brown fox")
    >>> with open_binary(path) as f:
    ...     f.read()
    b'the quick brown fox'
    """
    compressed = is_gzip(path, opener)
    stream = opener(path)
    return _ClosingGzipFile(stream) if compressed else stream


class _ClosingGzipFile(gzip.GzipFile):
    """A GzipFile reading from a stream that it closes too (GzipFile leaves it open)."""

    def __init__(self, stream):
        super().__init__(fileobj=stream, mode="rb")
        self._stream = stream

    def close(self):
        try:
            super().close()
        finally:
            self._stream.close()


def first_missing(path):
    """The outermost directory of ``path`` that does not exist yet (None if path exists)."""
    path, missing = os.path.abspath(path), None
    while not os.path.exists(path):
        missing, path = path, os.path.dirname(path)
    return missing


def remove_empty_dirs(path, stop):
    """Removes ``path`` and its parents up to and including ``stop``, while they are empty."""
    path, stop = os.path.abspath(path), os.path.abspath(stop)
    while True:
        try:
            os.rmdir(path)
        except OSError:
            return
        if path == stop:
            return
        path = os.path.dirname(path)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path):
    """Yields a binary file beside ``path``, renamed to ``path`` once the block succeeds.

    The file gets the usual permissions (0666 less the umask), not mkstemp's 0600.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, content):
    """Writes ``content`` to ``path`` so that readers see the old or the new file, never half."""
    with atomic_open(path) as f:
        f.write(content.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary directory beside ``path``; renamed to ``path`` on success."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-" + os.path.basename(path))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def make_readable(directory):
    """Gives a directory tree made by tempfile (modes 0600/0700) the umask's usual modes."""
    umask = _umask()
    os.chmod(directory, 0o777 & ~umask)
    for root, directories, files in os.walk(directory):
        for name in directories:
            os.chmod(os.path.join(root, name), 0o777 & ~umask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~umask)


def zip_directory(directory, file):
    """Writes the files under ``directory`` into ``file`` as a zip archive, uncompressed.

    Each file is streamed into the archive, not read into memory whole.
    """
    with zipfile.ZipFile(file, "w") as archive:
        for parent, _, names in sorted(os.walk(directory)):
            for name in sorted(names):
                path = os.path.join(parent, name)
                archive.write(path, os.path.relpath(path, directory).replace(os.sep, "/"))
