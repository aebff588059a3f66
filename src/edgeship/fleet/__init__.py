"""Fleet benchmarking: one sweep measured on many devices through Dask distributed.

A device joins a Dask scheduler with ``edgeship worker --cluster ADDRESS --device LABEL``;
the worker advertises its label and backends as Dask resources. ``edgeship bench ...
--cluster ADDRESS --device LABEL[,LABEL...]`` ships each artifact through Dask (checked by
sha256 on arrival), runs every configuration in its own process on a worker with that label,
and tags each row with ``device`` and the device's environment (``device_env``).

Example:
    >>> from edgeship.bench import BenchConfig  # doctest: +SKIP
    >>> from edgeship.fleet import FleetTarget, run_fleet
    >>> target = FleetTarget("tcp://10.0.0.2:8786", ("pi5", "jetson"))
    >>> results = run_fleet(BenchConfig(artifacts=("m/tflite-int8.tflite",)), target)
"""

from edgeship.fleet.labels import check_label, device_resource
from edgeship.fleet.runner import FleetTarget, run_fleet
from edgeship.fleet.shipment import Shipment

__all__ = ["FleetTarget", "Shipment", "check_label", "device_resource", "run_fleet"]
