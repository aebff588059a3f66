"""Training speed on every installed Keras backend: fp32, mixed bf16, mixed bf16 + jit.

On each backend that is installed (jax, torch, and tensorflow when present: TensorFlow is
not needed), trains mnist-cnn (digits upscaled to 32x32) and mobilenetv2 (96x96, alpha
0.35, from scratch) for a fixed number of steps in three settings and prints one JSON
document: steps/s, images/s, peak accelerator memory and final test accuracy per run, and
the speed-up of mixed bf16 + jit over fp32.

Every (backend, model, setting) runs in a fresh process with ``KERAS_BACKEND`` set, so that
the peak memory is that run's own. The images are the scikit-learn digits upscaled (nearest
neighbour) when scikit-learn is installed, else a synthetic 10-class set (a fixed random
pattern per class plus noise); ``data`` in the output says which.

Usage (GPU machine with JAX and PyTorch on CUDA, no TensorFlow; carry keras and src/)::

    PYTHONPATH=src python benchmarks/gpu_train.py --out gpu_train.json
    PYTHONPATH=src python benchmarks/gpu_train.py --tiny              # CPU: tiny sizes, quick

Settings a backend cannot run (``--jit`` on torch) are recorded as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("jax", "torch", "tensorflow")
SETTINGS = {
    "fp32": ("float32", False),
    "bf16": ("mixed_bfloat16", False),
    "bf16+jit": ("mixed_bfloat16", True),
}
# model -> (image side, batch, timed steps, warm-up steps); --tiny uses TINY
FULL = {"mnist-cnn": (32, 128, 400, 20), "mobilenetv2": (96, 64, 200, 10)}
TINY = {"mnist-cnn": (8, 32, 12, 2), "mobilenetv2": (32, 16, 6, 1)}


def load_images(side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """10-class images of ``side`` x ``side`` x 1 in [0, 1]: upscaled digits or synthetic."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        rng = np.random.default_rng(seed)
        patterns = rng.random((10, side, side, 1)).astype(np.float32)
        y = rng.integers(0, 10, 2000)
        noise = rng.normal(0, 0.3, (len(y), side, side, 1)).astype(np.float32)
        return np.clip(patterns[y] + noise, 0, 1), y.astype(np.int32), "synthetic"
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    index = (np.arange(side) * 8) // side  # nearest neighbour, 8 -> side
    x = x[:, index][:, :, index][..., None]
    return x, digits.target.astype(np.int32), "digits"


def peak_memory_mb(backend: str) -> float | None:
    """Peak accelerator memory of this process in MiB (None on a CPU)."""
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else peak / 2**20
    if backend == "torch":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def run_one(backend: str, model_name: str, setting: str, tiny: bool, seed: int) -> dict[str, Any]:
    """Train one (model, setting) on this process's backend; return its measurements."""
    import keras

    from edgeship.train.backends import get_backend
    from edgeship.train.backends._common import make_array_dataset
    from edgeship.train.config import TrainConfig
    from edgeship.train.distribute import precision_policy
    from edgeship.train.recipes import get_recipe

    side, batch, steps, warmup = (TINY if tiny else FULL)[model_name]
    precision, jit = SETTINGS[setting]
    module = get_backend(backend)
    config = TrainConfig(
        recipe=model_name,
        backend=backend,
        precision=precision,
        jit=jit,
        seed=seed,
        image_size=(side, side) if model_name == "mobilenetv2" else None,
    )
    module.check(config)
    x, y, data = load_images(side, seed)
    split = int(len(x) * 0.8)
    recipe = get_recipe(model_name)
    with module.session():  # on jax and torch: Keras kept from importing TensorFlow
        keras.utils.set_random_seed(seed)
        with precision_policy(precision):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # mobilenetv2 without weights
                model = recipe.build(x.shape[1:], 10, config)
        model.compile(
            optimizer=keras.optimizers.Adam(recipe.DEFAULT_LEARNING_RATE),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=module.jit_compile(jit),
        )
        train_x, train_y = _repeat(x[:split], y[:split], batch * (steps + warmup))
        feed = make_array_dataset(train_x, train_y, batch, training=True, seed=seed)
        warm = make_array_dataset(
            train_x[: batch * warmup], train_y[: batch * warmup], batch, training=False
        )
        start = time.perf_counter()
        model.fit(warm, epochs=1, verbose=0)  # compiles (and traces) the step
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        model.fit(feed, epochs=1, verbose=0, steps_per_epoch=steps)
        seconds = time.perf_counter() - start
        test = make_array_dataset(x[split:], y[split:], batch, training=False)
        accuracy = float(model.evaluate(test, verbose=0)[1])
    return {
        **module.describe(),
        "model": model_name,
        "setting": setting,
        "precision": precision,
        "jit_compiled": bool(module.jit_compile(jit)),
        "image_side": side,
        "batch_size": batch,
        "steps": steps,
        "warmup_seconds": compile_s,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "images_per_s": steps * batch / seconds,
        "peak_accelerator_memory_mb": peak_memory_mb(backend),
        "peak_host_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "test_accuracy": accuracy,
        "data": data,
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


def _repeat(x: np.ndarray, y: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    reps = math.ceil(count / len(x))
    return np.tile(x, (reps, 1, 1, 1))[:count], np.tile(y, reps)[:count]


def child(backend: str, model: str, setting: str, tiny: bool, seed: int) -> dict[str, Any]:
    """Run one measurement in a fresh process with ``KERAS_BACKEND=backend``."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, __file__, "--one", backend, model, setting, "--seed", str(seed)]
    proc = subprocess.run(
        [*cmd, *(["--tiny"] if tiny else [])], env=env, capture_output=True, text=True
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        return dict(json.loads(lines[-1]))
    why = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
    return {"backend": backend, "model": model, "setting": setting, "skipped": why[0]}


def speedups(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """images/s of bf16+jit (and bf16) over fp32, and the accuracy change, per backend and model."""
    table = {(r["backend"], r["model"], r["setting"]): r for r in runs if "images_per_s" in r}
    out = []
    for backend, model in sorted({(r["backend"], r["model"]) for r in runs}):
        base = table.get((backend, model, "fp32"))
        if base is None:
            continue
        for setting in ("bf16", "bf16+jit"):
            other = table.get((backend, model, setting))
            if other is not None:
                out.append(
                    {
                        "backend": backend,
                        "model": model,
                        "vs_fp32": setting,
                        "speedup": other["images_per_s"] / base["images_per_s"],
                        "accuracy_points": 100 * (other["test_accuracy"] - base["test_accuracy"]),
                    }
                )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, for a CPU")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="which to try")
    parser.add_argument("--models", default="mnist-cnn,mobilenetv2")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument(
        "--one", nargs=3, metavar=("BACKEND", "MODEL", "SETTING"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.one:
        from edgeship.errors import EdgeshipError

        try:
            print(json.dumps(run_one(*args.one, tiny=args.tiny, seed=args.seed)))
        except EdgeshipError as exc:
            print(f"refused: {exc}")
            return 2
        return 0
    backends = [b for b in args.backends.split(",") if importlib.util.find_spec(b)]
    runs = [
        child(backend, model, setting, args.tiny, args.seed)
        for backend in backends
        for model in args.models.split(",")
        for setting in args.settings.split(",")
    ]
    doc = {"tiny": args.tiny, "backends": backends, "runs": runs, "speedups": speedups(runs)}
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
