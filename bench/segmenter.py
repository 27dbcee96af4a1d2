"""Benchmark of the segmenter on one 1×24×256×256 volume, every figure from the same run.

    python bench/segmenter.py [--bundle BUNDLE] [--repeats 5] [--threads N] [--no-service]

Prints: the machine's float32 matmul rate (numpy), then for the network a torch training step
on the `small` profile's batch (what a CPU-minute of training buys), torch eager and
onnxruntime with the service's session options, on the 3-D graph and on the slice-major graph
that training exports (docs/segmenter.md): latency, volumes/s,
achieved GFLOP/s (2 × multiply-accumulates of the convolutions / latency) and its share of the
matmul rate; then the gRPC service's round trip against a bare onnxruntime call. Without
--bundle it benchmarks a randomly initialised network of the `small` profile (speed does not
depend on the weights). --widths compares networks of other widths side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SHAPE = (24, 256, 256)


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, minimum) seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def matmul_rate(repeats: int) -> float:
    """Best float32 GFLOP/s of a 2048² numpy matmul (BLAS, all cores)."""
    rng = np.random.default_rng(0)
    a = rng.random((2048, 2048), dtype=np.float32)
    b = rng.random((2048, 2048), dtype=np.float32)
    _, fastest = best_of(lambda: a @ b, max(5, repeats))
    return 2 * 2048**3 / fastest / 1e9


def ort_session(content: bytes, threads: int) -> Any:
    """A CPU session with the service's options."""
    from cervixai.onnxrt import ort
    from cervixai.segmentation.inference import session_options

    return ort.InferenceSession(content, session_options(threads),
                                providers=["CPUExecutionProvider"])


def row(name: str, seconds: float, flops: float, rate: float) -> dict[str, Any]:
    achieved = flops / seconds / 1e9
    return {"name": name, "latency_s": round(seconds, 3), "volumes_per_s": round(1 / seconds, 2),
            "gflop_per_s": round(achieved, 1), "share_of_matmul": round(achieved / rate, 3)}


Shape = tuple[tuple[int, ...], int, int]  # channels per level, planar levels, ungated levels


def network_rows(shape: Shape, repeats: int, threads: int, rate: float,
                 volume: np.ndarray[Any, Any]) -> tuple[list[dict[str, Any]], bytes]:
    import torch

    from cervixai.segmentation.training.export import export_onnx
    from cervixai.segmentation.training.network import SEUNet3d, multiply_accumulates

    channels, planar, ungated = shape
    torch.manual_seed(0)
    network = SEUNet3d(channels, planar, ungated_levels=ungated).eval()
    flops = 2.0 * multiply_accumulates(network, *SHAPE)
    content = export_onnx(network)
    label = f"{'/'.join(map(str, channels))} planar {planar} ungated {ungated}"
    x = torch.from_numpy(volume[None, None])
    with torch.no_grad():
        torch_s, _ = best_of(lambda: network(x), repeats)
    rows = [row(f"torch eager [{label}]", torch_s, flops, rate)]
    graphs = {"3-D graph": export_onnx(network, layout="volumetric"), "slice-major": content}
    for name, graph in graphs.items():
        session = ort_session(graph, threads)
        feed = {session.get_inputs()[0].name: volume[None, None]}
        ort_s, _ = best_of(lambda s=session, f=feed: s.run(None, f), repeats)
        rows.append(row(f"onnxruntime {name} [{label}]", ort_s, flops, rate))
    rows[0]["gmac"] = round(flops / 2e9, 2)
    rows[0]["training_step_s"] = round(training_step(network, repeats), 3)
    return rows, content


def training_step(network: Any, repeats: int) -> float:
    """Median seconds of one training step of the `small` profile's batch (forward, focal loss,
    backward, Adam) on the CPU: what decides how many steps a CPU-minute buys."""
    import torch

    from cervixai.segmentation.training.losses import segmentation_loss
    from cervixai.segmentation.training.profiles import PROFILES

    small = PROFILES["small"]
    generator = torch.Generator().manual_seed(0)
    crops = torch.rand(small.batch, 1, *small.crop, generator=generator)
    masks = (torch.rand(small.batch, 1, *small.crop, generator=generator) > 0.9).float()
    optimiser = torch.optim.Adam(network.parameters(), lr=small.learning_rate)
    network.train()

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        segmentation_loss("focal", network(crops), masks).backward()
        optimiser.step()

    seconds, _ = best_of(step, max(3, repeats))
    network.eval()
    return seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_round_trip(bundle: Path, volume: np.ndarray[Any, Any], repeats: int, threads: int
                       ) -> dict[str, float]:
    """Median Segment round trip through a real service process vs a bare session.run."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from cervix.v1 import segmenter_pb2, segmenter_pb2_grpc
    from cervixai.bundle import load_bundle
    from cervixai.service import channel_options
    from cervixai.wire import volume_to_proto

    port = free_port()
    env = {**os.environ, "CERVIXAI_BUNDLE": str(bundle), "CERVIXAI_SEGMENTER_PORT": str(port),
           "CERVIXAI_SEGMENTER_INTRA_OP_THREADS": str(threads), "CERVIXAI_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "services.segmenter"], env=env)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=channel_options(64 << 20))
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 120
        while True:
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    break
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the segmenter did not become SERVING")
            time.sleep(0.2)
        stub = segmenter_pb2_grpc.SegmenterStub(channel)
        request = segmenter_pb2.SegmentRequest(volume=volume_to_proto(volume, (5.0, 0.9, 0.9)))
        content = load_bundle(bundle).verified_bytes("segmenter")
        session = ort_session(content, threads)
        feed = {session.get_inputs()[0].name: volume[None, None]}
        service_times, bare_times = [], []
        stub.Segment(request, timeout=300)
        session.run(None, feed)
        for _ in range(repeats):  # interleaved, so that load changes hit both alike
            start = time.perf_counter()
            stub.Segment(request, timeout=300)
            service_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            session.run(None, feed)
            bare_times.append(time.perf_counter() - start)
        channel.close()
    finally:
        process.terminate()
        process.wait(60)
    service_s, bare_s = statistics.median(service_times), statistics.median(bare_times)
    return {"service_round_trip_s": round(service_s, 3), "bare_onnxruntime_s": round(bare_s, 3),
            "overhead": round(service_s / bare_s - 1, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0,
                        help="onnxruntime intra-op threads (0: one per physical core)")
    parser.add_argument("--widths", default="",
                        help="also compare these networks, CHANNELS:PLANAR[:UNGATED] each, e.g. "
                             "'16,32,64,128:0;16,32,64,128:2:1'")
    parser.add_argument("--no-service", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from cervixai.bundle import ModelEntry, add_file, load_bundle, write_entry
    from cervixai.segmentation.training.network import SEUNet3d
    from cervixai.segmentation.training.profiles import PROFILES

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    volume = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    rate = matmul_rate(args.repeats)
    configs: list[Shape]
    if args.bundle:
        parameters = load_bundle(args.bundle).entry("segmenter").parameters
        configs = [(tuple(parameters["channels"]), int(parameters["planar_levels"]),
                    int(parameters.get("ungated_levels", 0)))]
    else:
        small = PROFILES["small"]
        configs = [(small.channels, small.planar_levels, small.ungated_levels)]
    for spec in filter(None, args.widths.split(";")):
        widths, *levels = spec.split(":")
        planar, ungated = (int(levels[0]), int(levels[1]) if len(levels) > 1 else 0)
        configs.append((tuple(int(w) for w in widths.split(",")), planar, ungated))
    rows: list[dict[str, Any]] = []
    first_content = b""
    for shape in configs:
        found, content = network_rows(shape, args.repeats, args.threads, rate, volume)
        rows += found
        first_content = first_content or content
    # Measured again after the networks: on a shared machine the load moves, and the share is
    # reported against the faster (the more demanding) of the two measurements.
    rate_after = matmul_rate(args.repeats)
    if rate_after > rate:
        for r in rows:
            r["share_of_matmul"] = round(r["gflop_per_s"] / rate_after, 3)
    result: dict[str, Any] = {"cores": os.cpu_count(), "matmul_gflop_per_s": round(
        max(rate, rate_after), 1), "matmul_before_after": [round(rate, 1), round(rate_after, 1)],
        "volume": list(SHAPE), "rows": rows}
    if not args.no_service:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = args.bundle
            if bundle is None:  # the random network, as a bundle the service can load
                bundle = Path(tmp) / "bundle"
                ref = add_file(bundle, "segmenter/model.onnx", first_content)
                write_entry(bundle, ModelEntry(
                    name="segmenter", task="lesion_segmentation", algorithm="3d_se_unet",
                    feature_set="image", files={"model": ref}, threshold=0.5,
                    parameters={"depth_multiple": SEUNet3d(*configs[0][:2]).depth_multiple,
                                "largest_component": True}))
            result["service"] = service_round_trip(bundle, volume, args.repeats, args.threads)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"cores: {result['cores']}; numpy float32 matmul: {result['matmul_gflop_per_s']:.1f} "
          f"GFLOP/s (before/after {result['matmul_before_after']}); "
          f"volume 1×24×256×256")
    print(f"{'':<62}{'latency s':>10}{'vol/s':>8}{'GFLOP/s':>9}{'of matmul':>11}")
    for r in rows:
        print(f"{r['name']:<62}{r['latency_s']:>10.3f}{r['volumes_per_s']:>8.2f}"
              f"{r['gflop_per_s']:>9.1f}{r['share_of_matmul']:>11.0%}")
        if "training_step_s" in r:
            print(f"{'  training step, torch CPU, the small profile batch':<62}"
                  f"{r['training_step_s']:>10.3f}")
    if "service" in result:
        s = result["service"]
        print(f"gRPC Segment round trip {s['service_round_trip_s']:.3f} s vs bare onnxruntime "
              f"{s['bare_onnxruntime_s']:.3f} s: overhead {s['overhead']:+.1%}")


if __name__ == "__main__":
    main()
