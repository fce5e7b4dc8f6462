"""Running a stage with TFX-style caching: pipeline_root/STAGE/RUN_ID/ plus metadata.json.

RUN_ID is a short hash of the stage's name, input fingerprints and parameters. A stage
whose ``metadata.json`` says ``"status": "complete"`` is not run again: its recorded
outputs are reused (TFX's cache hit). Otherwise the stage runs into that directory
and ``metadata.json`` is written last, atomically: a stage killed or failed half-way
leaves ``"status": "running"`` / ``"failed"`` and is run again, into the same
directory, by the next pipeline run (the Trainer resumes from its backup there).
"""

import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import time

from sg_keras.errors import UsageError
from sg_keras.io_utils import atomic_write_text

METADATA_FILE = "metadata.json"
COMPLETE = "complete"


class StageError(UsageError):
    """A user mistake found by a stage: reported as ``error: STAGE: message``, exit 2."""

    def __init__(self, stage, message):
        super().__init__(f"{stage}: {message}")
        self.stage = stage


def file_fingerprint(path):
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def run_id(stage, inputs, parameters):
    """Short hash of what determines a stage's outputs."""
    key = json.dumps({"stage": stage, "inputs": inputs, "parameters": parameters},
                     sort_keys=True)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def write_json(path, content):
    atomic_write_text(path, json.dumps(content, indent=2, sort_keys=True) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@dataclasses.dataclass
class StageResult:
    stage: str
    run_id: str
    directory: str
    outputs: dict
    cached: bool


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_stage(pipeline_root, stage, inputs, parameters, body, keep_partial=False):
    """Runs ``body(directory) -> outputs dict`` unless a complete run is cached.

    ``inputs``: fingerprints (file hashes, upstream RUN_IDs); ``parameters``: the
    stage's settings; both JSON-serialisable. ``keep_partial``: an unfinished earlier
    attempt's files are kept (the Trainer resumes from them); otherwise they are
    removed before the stage runs again.
    """
    rid = run_id(stage, inputs, parameters)
    directory = os.path.join(os.path.abspath(pipeline_root), stage, rid)
    metadata_path = os.path.join(directory, METADATA_FILE)
    previous = None
    if os.path.exists(metadata_path):
        previous = read_json(metadata_path)
        if previous.get("status") == COMPLETE:
            return StageResult(stage, rid, directory, previous["outputs"], cached=True)
    if os.path.isdir(directory) and not keep_partial:
        shutil.rmtree(directory)
    os.makedirs(directory, exist_ok=True)
    metadata = {"stage": stage, "run_id": rid, "inputs": inputs, "parameters": parameters,
                "outputs": {}, "started": _now(), "status": "running",
                "attempt": (previous or {}).get("attempt", 0) + 1}
    write_json(metadata_path, metadata)
    started = time.perf_counter()
    try:
        outputs = body(directory)
    except BaseException as error:
        metadata.update(status="failed", error=f"{type(error).__name__}: {error}",
                        finished=_now(), seconds=round(time.perf_counter() - started, 3))
        write_json(metadata_path, metadata)
        if isinstance(error, UsageError) and not isinstance(error, StageError):
            raise StageError(stage, str(error)) from None
        raise
    metadata.update(status=COMPLETE, outputs=outputs, finished=_now(),
                    seconds=round(time.perf_counter() - started, 3))
    write_json(metadata_path, metadata)
    return StageResult(stage, rid, directory, outputs, cached=False)
