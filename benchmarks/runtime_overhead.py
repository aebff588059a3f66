"""Per-call overhead of ``Engine.predict`` against the raw backend calls doing the same work.

Side by side in one process, interleaved: for each model and backend, R repetitions of
N calls each, alternating raw and Engine (the order flips every repetition); reported: the
median per-call time of each, the median of the paired ratios (Engine / raw), and the best
repetition of each with their ratio (on a shared, noisy machine the minimum is the estimate
least disturbed by other work). Each is given on two clocks: wall time and the calling
thread's CPU time (``time.thread_time_ns``). Backends run with one thread, so all the work is
on the calling thread and the CPU clock leaves out the time other processes hold the core:
on a shared machine it is the fair comparison. Batch 1.

Raw TFLite = ``set_tensor`` / ``invoke`` / ``get_tensor`` on the backend's Interpreter (plus
numpy quantize/dequantize for an int8 model fed float data); raw ONNX = ``session.run``; raw
OpenVINO = ``infer_request.infer`` and the output tensor's data (CPU, float32, one thread); raw
CompiledModel = input buffer ``write``, ``run_by_index``, output buffer ``read``.

    python benchmarks/runtime_overhead.py --models DIR [--reps 9] [--calls 3000] [--json out.json]

``--build DIR`` (run first; needs TensorFlow) writes the models: the digits CNN (the
``mnist-cnn`` recipe on 8x8x1) and MobileNetV2 alpha 0.35 at 96x96 (random weights), each as
TFLite fp32, TFLite int8 (int8 I/O) and ONNX fp32.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = {"digits_cnn": (8, 8, 1), "mobilenetv2_035_96": (96, 96, 3)}


def build(out: Path) -> None:
    """Write the benchmark models (imports TensorFlow; run in its own process)."""
    import keras
    import tensorflow as tf
    import tf2onnx

    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    try:
        from edgeship.train.recipes.mnist_cnn import build as mnist_cnn

        digits = mnist_cnn((8, 8, 1), 10)
    except ImportError:  # recipe not available: same layers inline
        L = keras.layers
        inp = keras.Input((8, 8, 1))
        h = L.MaxPooling2D(2)(
            L.Conv2D(64, 3, activation="relu")(L.Conv2D(32, 3, activation="relu")(inp))
        )
        h = L.Dense(128, activation="relu")(L.Flatten()(h))
        digits = keras.Model(inp, L.Dense(10, activation="softmax")(h))
    mobilenet = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10
    )
    rng = np.random.default_rng(0)
    for name, model in (("digits_cnn", digits), ("mobilenetv2_035_96", mobilenet)):
        shape = MODELS[name]

        def rep(shape: tuple[int, ...] = shape) -> Any:
            for _ in range(32):
                yield [rng.uniform(0, 1, (1, *shape)).astype(np.float32)]

        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        (out / f"{name}-fp32.tflite").write_bytes(conv.convert())
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
        (out / f"{name}-int8.tflite").write_bytes(conv.convert())
        fn = tf.function(lambda t, m=model: m(t))
        sig = [tf.TensorSpec([None, *shape], tf.float32, name="x")]
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=17)
        (out / f"{name}-fp32.onnx").write_bytes(proto.SerializeToString())


def raw_tflite(backend: str, path: Path, x: np.ndarray) -> Any:
    """A closure doing the raw interpreter calls (with numpy (de)quantization if needed)."""
    if backend == "litert":
        from ai_edge_litert.interpreter import Interpreter
    else:
        from tflite_runtime.interpreter import Interpreter
    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    i_idx, o_idx = inp["index"], out["index"]
    set_tensor, invoke, get_tensor = interp.set_tensor, interp.invoke, interp.get_tensor
    if inp["dtype"] == np.float32:
        return lambda: (set_tensor(i_idx, x), invoke(), get_tensor(o_idx))[2]
    (si, zi), (so, zo) = inp["quantization"], out["quantization"]
    lo, hi = np.iinfo(inp["dtype"]).min, np.iinfo(inp["dtype"]).max
    dtype = inp["dtype"]

    def call() -> np.ndarray:
        q = np.clip(np.rint(x / np.float32(si)) + np.float32(zi), lo, hi).astype(dtype)
        set_tensor(i_idx, q)
        invoke()
        return (get_tensor(o_idx).astype(np.float32) - np.float32(zo)) * np.float32(so)

    return call


def raw_onnx(path: Path, x: np.ndarray) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    i_name, outs = sess.get_inputs()[0].name, [sess.get_outputs()[0].name]
    run = sess.run
    return lambda: run(outs, {i_name: x})[0]


def raw_openvino(path: Path, x: np.ndarray) -> Any:
    """OpenVINO's own calls: compile for the CPU (float32, one thread), infer, read output 0."""
    import openvino as ov

    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    infer, out = request.infer, request.get_output_tensor

    def run(v: np.ndarray) -> np.ndarray:
        infer((v,), share_inputs=True)
        return out(0).data.copy()  # type: ignore[no-any-return]

    if compiled.inputs[0].get_element_type().get_type_name() == "f32":
        return lambda: run(x)
    return _quantized_call(path, x, run)


def raw_compiled(path: Path, x: np.ndarray) -> Any:
    """LiteRT CompiledModel's own calls: write the input buffer, run, read the output buffer."""
    from ai_edge_litert.compiled_model import CompiledModel, HardwareAccelerator
    from ai_edge_litert.options import CpuOptions, Options

    options = Options(HardwareAccelerator.CPU, cpu_options=CpuOptions(num_threads=1))
    model = CompiledModel.from_file(str(path), options=options)
    ins, outs = model.create_input_buffers(0), model.create_output_buffers(0)
    detail = next(iter(model.get_output_tensor_details("serving_default").values()))
    shape, dtype = tuple(detail["shape"]), np.dtype(detail["dtype"])
    size = int(np.prod(shape))

    def run(v: np.ndarray) -> np.ndarray:
        ins[0].write(v)
        model.run_by_index(0, ins, outs)
        return outs[0].read(size, dtype).reshape(shape)

    return (lambda: run(x)) if dtype == np.float32 else _quantized_call(path, x, run)


def _quantized_call(path: Path, x: np.ndarray, run: Any) -> Any:
    """``run`` wrapped in numpy quantize/dequantize with the file's input/output parameters."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    (si, zi), (so, zo) = inp["quantization"], out["quantization"]
    lo, hi, dtype = np.iinfo(inp["dtype"]).min, np.iinfo(inp["dtype"]).max, inp["dtype"]

    def call() -> np.ndarray:
        q = np.clip(np.rint(x / np.float32(si)) + np.float32(zi), lo, hi).astype(dtype)
        return (run(q).astype(np.float32) - np.float32(zo)) * np.float32(so)

    return call


RAW = {"onnxruntime": raw_onnx, "openvino": raw_openvino, "litert-compiled": raw_compiled}


def per_call_ns(fn: Any, calls: int) -> tuple[float, float]:
    """Return (wall ns, this thread's CPU ns) per call over ``calls`` calls after a warm-up."""
    for _ in range(min(200, calls)):
        fn()
    cpu0, wall0 = time.thread_time_ns(), time.perf_counter_ns()
    for _ in range(calls):
        fn()
    wall, cpu = time.perf_counter_ns() - wall0, time.thread_time_ns() - cpu0
    return wall / calls, cpu / calls


def measure(path: Path, backend: str, reps: int, calls: int) -> dict[str, Any]:
    from edgeship.runtime import load

    shape = MODELS[path.name.split("-")[0]]
    x = np.random.default_rng(0).uniform(0, 1, (1, *shape)).astype(np.float32)
    raw = RAW[backend](path, x) if backend in RAW else raw_tflite(backend, path, x)
    engine = load(path, backend=backend, threads=1, verify=False)
    np.testing.assert_allclose(engine.predict(x), raw(), rtol=1e-5, atol=1e-6)
    ours = lambda: engine.predict(x)  # noqa: E731
    raw_ns: list[tuple[float, float]] = []
    eng_ns: list[tuple[float, float]] = []
    for rep in range(reps):
        pair = [(raw, raw_ns), (ours, eng_ns)]
        for fn, sink in pair if rep % 2 == 0 else pair[::-1]:
            sink.append(per_call_ns(fn, calls))
    engine.close()
    row: dict[str, Any] = {
        "model": path.name,
        "backend": backend,
        "calls_per_rep": calls,
        "reps": reps,
        "threads": 1,
    }
    for k, clock in enumerate(("wall", "cpu")):
        r = [v[k] for v in raw_ns]
        e = [v[k] for v in eng_ns]
        ratios = [b / a for a, b in zip(r, e, strict=True)]
        row[clock] = {
            "raw_us_median": statistics.median(r) / 1000,
            "engine_us_median": statistics.median(e) / 1000,
            "ratio_median": statistics.median(ratios),
            "ratio_q1": statistics.quantiles(ratios, n=4)[0],
            "ratio_q3": statistics.quantiles(ratios, n=4)[2],
            "raw_us_min": min(r) / 1000,
            "engine_us_min": min(e) / 1000,
            "ratio_of_mins": min(e) / min(r),
        }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, help="write the benchmark models to this directory")
    parser.add_argument("--models", type=Path, help="directory written by --build")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--calls", type=int, default=3000, help="calls per repetition (digits)")
    parser.add_argument(
        "--backends", default="litert,tflite-runtime,onnxruntime,openvino,litert-compiled"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.build:
        build(args.build)
        return 0
    if not args.models:
        parser.error("--models DIR is required (write it first with --build DIR)")
    from edgeship.fileio import atomic_write_json
    from edgeship.runtime import available_backends
    from edgeship.runtime.backends import BACKENDS
    from edgeship.versions import installed_versions

    wanted = [b for b in args.backends.split(",") if b in available_backends()]
    rows = []
    for path in sorted(args.models.glob("*-*.*")):
        for backend in [b for b in wanted if BACKENDS[b].reads(path.suffix[1:])]:
            calls = args.calls if path.name.startswith("digits") else max(50, args.calls // 30)
            row = measure(path, backend, args.reps, calls)
            rows.append(row)
            for clock in ("cpu", "wall"):
                c = row[clock]
                print(
                    f"{row['model']:32s} {backend:15s} {clock:4s} raw {c['raw_us_median']:9.2f} "
                    f"engine {c['engine_us_median']:9.2f} us  ratio {c['ratio_median']:.3f} "
                    f"[q1 {c['ratio_q1']:.3f} q3 {c['ratio_q3']:.3f}]  best: raw "
                    f"{c['raw_us_min']:8.2f} engine {c['engine_us_min']:8.2f} us ratio "
                    f"{c['ratio_of_mins']:.3f}",
                    flush=True,
                )
    if args.json:
        atomic_write_json(
            args.json,
            {"benchmark": "runtime_overhead", "versions": installed_versions(), "results": rows},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
