"""``MultiWorkerMirroredStrategy`` under Keras 3: start the cluster in bounded time, fit.

Starting: the coordination leader first waits for every peer to listen
(:func:`edgeship.train.cluster.wait_for_peers`); every worker configures TensorFlow's
coordination service with ``peer_timeout`` as its registration and heartbeat timeout, so a
worker whose leader never answers fails too instead of waiting for an hour.

Fitting: Keras 3.15's TensorFlow trainer has two defects under this strategy, both fixed
here per model instance (:func:`adapt_model`) without touching Keras:

* before the first step ``fit``/``evaluate`` reduce the first *distributed* batch, an
  ``(x, y)`` tuple, with ``strategy.reduce`` (which takes a single value), only to learn the
  input shapes: ``ValueError: Attempt to convert a value (PerReplica:{...})``. The model is
  built here from a local sample batch instead;
* each step's logs are reduced with ``strategy.reduce("MEAN", value, axis=0)``, which fails
  for the scalar loss and metrics. Steps return them as shape ``(1,)``, which that reduction
  turns back into the cross-replica mean scalar. Epoch logs (history, callbacks) are read
  from the metric variables, which sum over every replica of every worker.

The datasets stay plain ``tf.data`` pipelines batched by the *global* batch; Keras
distributes them with ``experimental_distribute_dataset`` and the ``DATA`` auto-shard policy
gives each worker its own slice of every global batch.
"""

from __future__ import annotations

from typing import Any

from edgeship.errors import TrainingError
from edgeship.train.cluster import Cluster, read_cluster, unreachable_message, wait_for_peers
from edgeship.train.config import TrainConfig


def make_multi_worker_strategy(config: TrainConfig) -> Any:
    """Create the strategy from ``TF_CONFIG`` (checked first); bounded by ``peer_timeout``.

    Raises:
        ConfigError: ``TF_CONFIG`` is malformed.
        TrainingError: a peer cannot be reached, or TensorFlow was started too early.
    """
    cluster = read_cluster()
    import tensorflow as tf

    if cluster is not None and cluster.size > 1:
        if cluster.is_leader:
            wait_for_peers(cluster, config.peer_timeout)
        _configure_coordination(cluster, config.peer_timeout)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.OpError as exc:
        if cluster is None:
            raise TrainingError(f"Cannot start MultiWorkerMirroredStrategy: {exc}") from exc
        job, index = cluster.leader
        first = (exc.message or type(exc).__name__).strip().splitlines()[0]
        raise TrainingError(
            unreachable_message(cluster, job, index, config.peer_timeout, first)
        ) from exc
    except (ValueError, RuntimeError) as exc:
        raise TrainingError(
            f"Cannot start MultiWorkerMirroredStrategy: {exc}. Set TF_CONFIG on every worker "
            "and start the strategy before any other TensorFlow work."
        ) from exc


def _configure_coordination(cluster: Cluster, timeout: float) -> None:
    """The coordination service TensorFlow would configure, with bounded timeouts."""
    try:
        from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
        from tensorflow.python.eager import context
    except ImportError:  # another TensorFlow layout: keep TensorFlow's own defaults
        return
    ctx = context.context()
    if ctx.coordination_service is not None:
        return
    job, index = cluster.leader
    ctx.configure_coordination_service(
        service_type="standalone",
        service_leader=f"/job:{job}/replica:0/task:{index}",
        coordinated_jobs=[
            coordination_config_pb2.CoordinatedJob(name=name, num_tasks=len(addresses))
            for name, addresses in cluster.jobs
        ],
        cluster_register_timeout_in_ms=int(timeout * 1000),
        heartbeat_timeout_in_ms=int(timeout * 1000),
    )


def adapt_model(model: Any, strategy: Any, sample: tuple[Any, Any]) -> None:
    """Make ``model.fit``/``evaluate`` work under ``strategy`` (see the module notes).

    Args:
        model: a compiled model whose variables were created under ``strategy.scope()``.
        strategy: the run's ``MultiWorkerMirroredStrategy``.
        sample: a small local ``(x, y)`` batch of numpy arrays (shapes and dtypes only).
    """
    import tensorflow as tf

    def symbolic_build(iterator: Any = None, data_batch: Any = None) -> None:
        with strategy.scope():
            model._symbolic_build(data_batch=sample)

    def as_vectors(logs: Any) -> Any:
        return {k: tf.reshape(v, [1]) for k, v in logs.items()}

    train_step, test_step = type(model).train_step, type(model).test_step
    if hasattr(model, "_symbolic_build"):  # Keras 3.x; a Keras without it builds its own way
        model._maybe_symbolic_build = symbolic_build
    model.train_step = lambda data: as_vectors(train_step(model, data))
    model.test_step = lambda data: as_vectors(test_step(model, data))


def agree_on_epoch(strategy: Any, epoch: int, where: str) -> None:
    """Every worker must resume at the same epoch; fail clearly when one did not find the
    backup the others restored (``where``)."""
    import tensorflow as tf

    # SUM and MEAN are the reductions on offer: all equal <=> n * sum(e^2) == sum(e)^2.
    @tf.function
    def sums() -> Any:
        local = strategy.run(lambda: tf.constant([epoch, epoch * epoch], tf.int64))
        return strategy.reduce("SUM", local, axis=None)

    total, squares = (int(v) for v in sums())
    replicas = int(strategy.num_replicas_in_sync)
    if replicas * squares != total * total:
        cluster = read_cluster()
        me = cluster.name() if cluster else "this worker"
        raise TrainingError(
            f"Workers disagree on the epoch to resume from ({me} found a backup of epoch "
            f"{epoch}, the {replicas} replicas {total} in all). Every worker reads the backup "
            f"in {where}: put --out on a file system all workers share, or delete {where} on "
            "the chief to start over."
        )
