"""The cluster a training task belongs to: TF_CONFIG, parsed and checked against the strategy.

The cluster is described by the standard ``TF_CONFIG`` environment variable and every
task runs the same ``sg-keras train`` command; which strategies suit which clusters:

* ``default`` and ``mirrored`` train in one process: no cluster, or a cluster of one task;
* ``multi_worker``: ``chief`` and ``worker`` tasks, at most one chief;
* ``parameter_server``: a ``chief``, ``worker`` tasks and ``ps`` tasks.
"""

import dataclasses
import json

from sg_keras.errors import UsageError

STRATEGIES = ("default", "mirrored", "multi_worker", "parameter_server")
ONE_PROCESS_STRATEGIES = ("default", "mirrored")
CLUSTER_JOBS = {"multi_worker": ("chief", "worker"),
                "parameter_server": ("chief", "worker", "ps")}


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """A validated TF_CONFIG: the addresses of each job, and this process's task.

    Example:

    >>> spec = parse_tf_config('{"cluster": {"worker": ["a:2222", "b:2222"]}, '
    ...                        '"task": {"type": "worker", "index": 1}}')
    >>> spec.size, spec.is_chief
    (2, False)
    """

    jobs: dict  # job name → ["host:port", …]
    task_type: str
    task_index: int

    @property
    def size(self):
        return sum(len(addresses) for addresses in self.jobs.values())

    @property
    def is_chief(self):
        """TensorFlow's rule: the chief task, or worker 0 when the cluster has no chief."""
        if "chief" in self.jobs:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0


def parse_tf_config(value):
    """The ClusterSpec of a TF_CONFIG value, None if it is unset; UsageError if malformed."""
    if not value or not value.strip():
        return None
    try:
        config = json.loads(value)
    except json.JSONDecodeError as error:
        raise UsageError(f"TF_CONFIG is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise UsageError('TF_CONFIG must be a JSON object with "cluster" and "task"')
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise UsageError('TF_CONFIG needs "cluster": {JOB: ["host:port", …], …}')
    jobs = {}
    for job, addresses in cluster.items():
        if job not in ("chief", "worker", "ps"):
            raise UsageError(f"TF_CONFIG: unsupported job {job!r} (jobs are chief, worker, ps)")
        if not isinstance(addresses, list) or not addresses:
            raise UsageError(f'TF_CONFIG: job {job!r} must list its tasks\' "host:port" addresses')
        for address in addresses:
            _check_address(job, address)
        jobs[job] = list(addresses)
    everywhere = [address for addresses in jobs.values() for address in addresses]
    repeated = sorted({a for a in everywhere if everywhere.count(a) > 1})
    if repeated:
        raise UsageError(f"TF_CONFIG: address {repeated[0]} is given to more than one task")
    if not isinstance(task, dict):
        raise UsageError('TF_CONFIG needs "task": {"type": JOB, "index": N}')
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in jobs:
        raise UsageError(f"TF_CONFIG: task type {task_type!r} is not a job of the cluster "
                         f"({', '.join(jobs)})")
    if isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(jobs[task_type]):
        raise UsageError(f"TF_CONFIG: task index {index!r} is out of range for job "
                         f"{task_type!r} of {len(jobs[task_type])} task(s)")
    return ClusterSpec(jobs, task_type, index)


def _check_address(job, address):
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"TF_CONFIG: job {job!r} has an address {address!r} that is not "
                         "host:port")


def check_cluster(strategy, cluster):
    """Raises UsageError unless the cluster (None: no TF_CONFIG) suits the strategy."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if strategy in ONE_PROCESS_STRATEGIES:
        if cluster is not None and cluster.size > 1:
            raise UsageError(
                f"--strategy={strategy} trains in one process, but TF_CONFIG describes a "
                f"cluster of {cluster.size} tasks: use --strategy=multi_worker or "
                "--strategy=parameter_server, or unset TF_CONFIG")
        return
    if cluster is None:
        raise UsageError(f"--strategy={strategy} needs the cluster in the TF_CONFIG "
                         "environment variable (README: Scaling out)")
    allowed = CLUSTER_JOBS[strategy]
    others = [job for job in cluster.jobs if job not in allowed]
    if others:
        raise UsageError(f"--strategy={strategy} runs {' and '.join(allowed)} tasks, but "
                         f"TF_CONFIG has {', '.join(others)} tasks (ps tasks are for "
                         "--strategy=parameter_server)")
    chiefs = len(cluster.jobs.get("chief", ()))
    if chiefs > 1:
        raise UsageError(f"TF_CONFIG has {chiefs} chief tasks; a cluster has at most one")
    if strategy == "parameter_server":
        for job in allowed:
            if job not in cluster.jobs:
                raise UsageError(f"--strategy=parameter_server needs a chief, workers and "
                                 f"parameter servers; TF_CONFIG has no {job} task")
