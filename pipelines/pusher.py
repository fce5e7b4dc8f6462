"""Pusher: when the Evaluator blessed the model, the serving export into serving_model_dir.

Inputs: the Trainer's and Evaluator's RUN_IDs. Parameters: serving_model_dir.
``serving_model_dir`` is TF Serving's model base path (saved_models/NAME): the model
is written by sg_keras.export.export_trained to ``serving_model_dir/VERSION/``
(next version number; a temporary directory renamed into place), and the
evaluation record to ``serving_model_dir/VERSION.evaluation.json``, *beside* the
version directory: TF Serving only looks at numeric directory names, so the file
does not disturb it, and the SavedModel directory stays exactly what the export
writes. The record is written before the version directory appears; a record
without its version directory (a push that died half-way) is ignored and
overwritten by the next push. The record names the Trainer RUN_ID that produced
the model: a model already pushed is not pushed again.
"""

import os
import tempfile

from pipelines import orchestration
from sg_keras import export

NAME = "Pusher"
RECORD_SUFFIX = ".evaluation.json"


def record_path(serving_model_dir, version):
    return os.path.join(serving_model_dir, f"{version}{RECORD_SUFFIX}")


def latest_pushed(serving_model_dir):
    """(version, evaluation record or None) of the newest version; (None, None) if none."""
    versions = export.versions(serving_model_dir)
    if not versions:
        return None, None
    version = versions[-1]
    path = record_path(serving_model_dir, version)
    if not os.path.exists(path):
        return version, None
    return version, orchestration.read_json(path)


def pushed_model_dir(serving_model_dir):
    """The Trainer model_dir of the newest pushed version ("" when none is pushed, or
    its record is gone)."""
    _, record = latest_pushed(serving_model_dir)
    return (record or {}).get("model", {}).get("model_dir", "")


def check(serving_model_dir):
    """Fails unless serving_model_dir is (or can be created as) a writable directory."""
    if not serving_model_dir:
        raise orchestration.StageError(NAME, "--serving_model_dir is required")
    path = os.path.abspath(serving_model_dir)
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise orchestration.StageError(
            NAME, f"--serving_model_dir {serving_model_dir} is not writable "
                  f"({existing} is not a directory)")
    try:  # os.access is no use under root; try it
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise orchestration.StageError(
            NAME, f"--serving_model_dir {serving_model_dir} is not writable: "
                  f"{error.strerror}") from None


def run(pipeline_root, trainer, evaluator, serving_model_dir):
    serving_model_dir = os.path.abspath(serving_model_dir)
    check(serving_model_dir)

    def body(directory):
        record = orchestration.read_json(evaluator.outputs["evaluation"])
        if not record["blessed"]:
            return {"pushed": False, "reason": "not blessed"}
        version, previous = latest_pushed(serving_model_dir)
        if previous and previous.get("model", {}).get("trainer_run_id") == trainer.run_id:
            return {"pushed": False, "reason": f"already pushed as version {version}",
                    "version": version}
        version = export.next_version(serving_model_dir)
        os.makedirs(serving_model_dir, exist_ok=True)
        record = {**record, "version": version}
        orchestration.write_json(record_path(serving_model_dir, version), record)
        path = export.export_trained(trainer.outputs["model_dir"], serving_model_dir)
        pushed = int(os.path.basename(path))
        if pushed != version:  # another pusher took the number meanwhile
            record["version"] = pushed
            orchestration.write_json(record_path(serving_model_dir, pushed), record)
        return {"pushed": True, "version": pushed, "path": path,
                "record": record_path(serving_model_dir, pushed)}

    return orchestration.run_stage(
        pipeline_root, NAME, {"trainer": trainer.run_id, "evaluator": evaluator.run_id},
        {"serving_model_dir": serving_model_dir}, body)
