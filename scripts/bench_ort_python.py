"""Reference timing: the same EfficientNet-Lite0 ONNX graph through onnxruntime's own Python API.

Used only by scripts/bench-forward.sh, inside a throwaway venv, to give the Rust numbers a ratio measured
in the same run. Prints one JSON object.
"""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def timed(session, batch, repeats):
    x = np.random.default_rng(0).uniform(-1, 1, size=(batch, 3, 224, 224)).astype(np.float32)
    session.run(None, {"input": x})  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, {"input": x})
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    path = sys.argv[1]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    b1 = timed(session, 1, 50)
    b32 = timed(session, 32, 5)
    print(json.dumps({
        "runner": "python-onnxruntime " + ort.__version__,
        "batch1_ms": b1 * 1e3,
        "batch32_images_per_s": 32 / b32,
    }))


if __name__ == "__main__":
    main()
