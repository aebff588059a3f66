"""The PyTorch backend: numpy input (``keras.utils.PyDataset``), one device (the first CUDA
GPU when there is one, else the CPU).

TensorFlow is never imported. Refused here: ``multi-worker`` and ``mirrored`` (Keras 3 has
no distribution for PyTorch), ``--jit`` (Keras compiles with ``torch.compile``, whose
Inductor builds C++/Triton kernels at the first step: minutes on a CPU, and not what
``--jit`` promises, XLA), and the ``gan`` recipe (its train step uses ``tf.GradientTape``).
"""

from __future__ import annotations

from typing import Any

NAME = "torch"
#: Recipes this backend cannot train, and why.
NO_JIT = (
    "Keras compiles PyTorch with torch.compile, whose Inductor builds its kernels at the "
    "first step (minutes on a CPU)"
)
REFUSED_RECIPES = {
    "gan": "its adversarial train step is written with tf.GradientTape (TensorFlow only); "
    "train it with --backend tensorflow",
}


def check(config: Any) -> None:
    """Refuse the gan recipe, data parallel and multi-worker training, and ``jit``."""
    from edgeship.train.backends._refusals import refuse

    refuse(config, NAME, REFUSED_RECIPES, data_parallel=False, no_jit=NO_JIT)


def session() -> Any:
    """The block training runs in: Keras kept from importing TensorFlow."""
    from edgeship.train.backends._common import without_tensorflow

    return without_tensorflow()


def make_strategy(config: Any) -> Any:
    """One device (``check`` refused the others)."""
    from edgeship.train.backends._common import LocalStrategy

    return LocalStrategy()


def make_dataset(
    x: Any, y: Any, batch_size: int, *, training: bool, seed: int = 0, augment: Any = None
) -> Any:
    """A ``keras.utils.PyDataset`` over the arrays (no TensorFlow)."""
    from edgeship.train.backends._common import make_array_dataset

    return make_array_dataset(x, y, batch_size, training=training, seed=seed, augment=augment)


def jit_compile(jit: bool) -> bool:
    """False: PyTorch runs eagerly (``check`` refused ``jit``)."""
    return False


def is_out_of_memory(exc: BaseException) -> bool:
    """``torch.OutOfMemoryError``."""
    import torch

    return isinstance(exc, torch.OutOfMemoryError)


def describe() -> dict[str, str]:
    """Backend, its version and the device (the first CUDA GPU's name, else CPU)."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return {"backend": NAME, "backend_version": torch.__version__, "device": device}
