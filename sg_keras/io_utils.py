"""Writing files and directories atomically: a temporary path, then a rename."""

import contextlib
import os
import shutil
import tempfile
import zipfile


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


def zip_directory(directory, file):
    """Writes the files under ``directory`` into ``file`` as a zip archive, uncompressed.

    Each file is streamed into the archive, not read into memory whole.
    """
    with zipfile.ZipFile(file, "w") as archive:
        for parent, _, names in sorted(os.walk(directory)):
            for name in sorted(names):
                path = os.path.join(parent, name)
                archive.write(path, os.path.relpath(path, directory).replace(os.sep, "/"))
