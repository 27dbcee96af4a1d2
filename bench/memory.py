"""The segmenter's memory over a sequence of series of different depths, onnxruntime's arena
settings side by side, each in a fresh process (peak and resident memory are per process).

    python bench/memory.py [--model models/segmenter/model.onnx] [--threads 2]

For each setting: resident memory after each volume of the sequence 24, 64, 16, 40, 64, 24, 24
slices (256 × 256) and the process's peak, each setting in its own process; then the latency of
a 24-slice volume, the settings interleaved in one process (median of 5), with its ratio to
onnxruntime's defaults. ``served`` is the segmenter's own
session options (:func:`cervixai.segmentation.inference.session_options`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPTHS = (24, 64, 16, 40, 64, 24, 24)
SETTINGS = {  # name -> (memory arena, memory patterns)
    "onnxruntime defaults": (True, True),
    "served (patterns off)": (True, False),
    "arena off": (False, False),
}

CHILD = r"""
import json, resource, sys
import numpy as np
from cervixai.onnxrt import ort
from cervixai.segmentation.inference import pad_depth, session_options
model, threads, arena, pattern, depths = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", \
    sys.argv[4] == "1", [int(d) for d in sys.argv[5].split(",")]
options = session_options(threads)
options.enable_cpu_mem_arena, options.enable_mem_pattern = arena, pattern
session = ort.InferenceSession(open(model, "rb").read(), options,
                               providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
rng = np.random.default_rng(0)
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6
after = []
for depth in depths:
    volume = pad_depth(rng.random((depth, 256, 256), dtype=np.float32), 8)[None, None]
    session.run(None, {name: volume})
    after.append(round(rss()))
print(json.dumps({"after_mb": after, "peak_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss // 1000}))
"""

SPEED = r"""
import json, sys, time
import numpy as np
from cervixai.onnxrt import ort
from cervixai.segmentation.inference import pad_depth, session_options
model, threads, settings = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
content = open(model, "rb").read()
sessions = {}
for name, (arena, pattern) in settings.items():
    options = session_options(threads)
    options.enable_cpu_mem_arena, options.enable_mem_pattern = arena, pattern
    sessions[name] = ort.InferenceSession(content, options, providers=["CPUExecutionProvider"])
volume = pad_depth(np.random.default_rng(0).random((24, 256, 256), dtype=np.float32), 8)[None,
                                                                                          None]
feed = lambda s: {s.get_inputs()[0].name: volume}
for s in sessions.values():
    s.run(None, feed(s))
times = {name: [] for name in sessions}
for _ in range(5):   # interleaved: the machine's load hits every setting alike
    for name, s in sessions.items():
        started = time.perf_counter()
        s.run(None, feed(s))
        times[name].append(time.perf_counter() - started)
print(json.dumps({name: float(np.median(t)) for name, t in times.items()}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "segmenter" / "model.onnx")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    results = {}
    for name, (arena, pattern) in SETTINGS.items():
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.model), str(args.threads),
                              str(int(arena)), str(int(pattern)),
                              ",".join(str(d) for d in DEPTHS)],
                             capture_output=True, text=True, check=True, timeout=900)
        results[name] = json.loads(out.stdout)
    speed = json.loads(subprocess.run(
        [sys.executable, "-c", SPEED, str(args.model), str(args.threads), json.dumps(SETTINGS)],
        capture_output=True, text=True, check=True, timeout=900).stdout)
    base = speed["onnxruntime defaults"]
    print(f"segmenter memory over depths {', '.join(map(str, DEPTHS))} "
          f"({args.threads} threads; resident MB after each volume, one process per setting); "
          f"24-slice latency, median of 5 interleaved in one process")
    for name, r in results.items():
        print(f"  {name:<22} {' '.join(f'{m:>5}' for m in r['after_mb'])}   peak "
              f"{r['peak_mb']:>5} MB   24 slices {speed[name]:.2f} s "
              f"({speed[name] / base:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
