"""Process-level settings and workarounds: every one of them, so that they are found in one place.

TensorFlow and Keras make a process behave in ways a library cannot fix from inside
its own code; each function here names one such behaviour and what it does about it:

* :func:`import_tensorflow_quietly`: TensorFlow's C++ start-up chatter on stderr;
* :func:`limit_op_threads`: one thread per TensorFlow op for the sparse objectives;
* :func:`collect_cycles_at_exit`: a tf.data pipeline left in a reference cycle hangs
  the process at exit;
* :func:`freeze_objects_at_exit`: Python's shutdown walks every object TensorFlow made;
* :func:`release_freed_memory`: the C heap keeps memory freed by another thread;
* :func:`keep_freed_memory_in_heap`: the C heap hands a step's large buffers back to
  the system, and every step faults their pages in again;
* :func:`check_memory`: an allocation the machine cannot hold is refused before it is tried.
"""

import atexit
import ctypes
import gc
import os

from absl import logging

from sg_keras.errors import UsageError

_COLLECTING_AT_EXIT = []


def import_tensorflow_quietly():
    """Imports TensorFlow with its C++ start-up messages (CUDA probing, oneDNN) hidden.

    Lists the physical devices, which does not start TensorFlow's runtime (that
    ``--strategy=multi_worker`` must configure first).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved_stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)


def limit_op_threads(sparse_step):
    """One thread per TensorFlow op when the train step is a chain of small ops.

    ``sparse_step``: the objective's step works on [batch, dim] tensors (negative
    sampling, sampled softmax); splitting each of its ops across the cores costs
    more CPU than it saves, CPU the input pipeline needs (independent ops still
    run in parallel). ``TF_NUM_INTRAOP_THREADS`` overrides it. Only possible before
    TensorFlow's runtime starts; later the setting is left as it is.
    """
    import tensorflow as tf

    if not sparse_step or "TF_NUM_INTRAOP_THREADS" in os.environ:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        logging.debug("TensorFlow ops run on one thread each (TF_NUM_INTRAOP_THREADS overrides)")
    except RuntimeError:
        logging.info("TensorFlow's runtime has started: its intra-op threads stay at %d",
                     tf.config.threading.get_intra_op_parallelism_threads())


def collect_cycles_at_exit():
    """Collects garbage when Python exits, while tf.data's threads can still run Python.

    tf.data calls a Python generator (the corpus reader) from its own threads. A
    pipeline left in a reference cycle, as an exception out of the training loop leaves
    it, would otherwise be freed only during Python's shutdown, when those threads
    can no longer take the GIL: tf.data then waits for them forever. Registered
    once per process, however often it is called.
    """
    if not _COLLECTING_AT_EXIT:
        atexit.register(gc.collect)
        _COLLECTING_AT_EXIT.append(True)


def freeze_objects_at_exit():
    """Leaves the objects TensorFlow and Keras made to the operating system at exit.

    Python's shutdown collections walk every one of them (a second a run); frozen,
    they are skipped. Call it first thing in a command-line entry point: handlers
    run in reverse order, so this one runs after every other exit handler.
    """
    atexit.register(gc.freeze)


def release_freed_memory():
    """Frees unreachable objects and returns the C heap's free memory to the system.

    Memory freed in another thread's malloc arena (a counting table, filled by
    tf.data's threads) is barely reused by later work; returned with glibc's
    ``malloc_trim`` it lowers a training run's peak memory. Elsewhere than glibc
    only the collection happens.
    """
    gc.collect()
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc
        return
    malloc_trim(0)


# glibc's mallopt parameter (malloc.h) and the value set.
_M_TOP_PAD = -2
_TOP_PAD_BYTES = 16 * 2 ** 20


def keep_freed_memory_in_heap():
    """Makes glibc's malloc keep 16 MiB free at the top of its heaps instead of 128 KiB.

    A training step allocates and frees buffers of megabytes (a batch's gathered
    rows, tf.data's blocks of pairs). glibc trims a heap whose top holds more free
    memory than its trim threshold down to its top pad, so with the default pad
    those buffers go back to the system after each step and the next one faults
    their pages in again: one 1-epoch text8 run took 14 million page faults and
    47 s of system time in 80 s (raising the mmap threshold alone changed nothing;
    a 16 MiB top pad: 0.3 million faults, 3 s, 35 s in all; benchmarks/RESULTS.md).
    Process-wide and lasting: setting it also fixes glibc's mmap and trim
    thresholds at their values of the moment (they otherwise adapt to the sizes
    freed). Returns whether it was applied (False where the C library is not glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc
        return False
    return mallopt(_M_TOP_PAD, _TOP_PAD_BYTES) == 1


def available_memory():
    """Bytes of memory the system can give this process now (MemAvailable; else all RAM)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(needed, what):
    """Raises UsageError when ``needed`` bytes (an estimate of what ``what`` will
    allocate) exceed the memory available: the run is refused rather than killed.

    Example:

    >>> check_memory(2 ** 60, "--dim=100000000")
    Traceback (most recent call last):
    ...
    sg_keras.errors.UsageError: --dim=100000000 needs about 1073741824.0 GiB of memory; ...
    """
    available = available_memory()
    if needed > available:
        raise UsageError(f"{what} needs about {needed / 2 ** 30:.1f} GiB of memory; "
                         f"{available / 2 ** 30:.1f} GiB are available")
