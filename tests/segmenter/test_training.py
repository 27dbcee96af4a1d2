"""Training pieces (torch): the network, losses, metrics, data, export parity, the bundle entry."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cervixai.segmentation.training.data import CropSampler, load_cohort  # noqa: E402
from cervixai.segmentation.training.export import (  # noqa: E402
    OPSET,
    PARITY_TOLERANCE,
    export_onnx,
    parity,
)
from cervixai.segmentation.training.losses import (  # noqa: E402
    focal_loss,
    segmentation_loss,
    soft_dice_loss,
)
from cervixai.segmentation.training.metrics import (  # noqa: E402
    dice,
    otsu_threshold,
    summary,
)
from cervixai.segmentation.training.network import (  # noqa: E402
    Conv3x3x3,
    SEUNet3d,
    SigmoidOutput,
    SqueezeExcitation3d,
    multiply_accumulates,
)
from cervixai.segmentation.training.slicewise import SliceMajorUNet  # noqa: E402


def test_fast_cpu_convolution_is_the_same_convolution() -> None:
    torch.manual_seed(0)
    conv = Conv3x3x3(3, 5)
    x = torch.randn(2, 3, 5, 9, 7, requires_grad=True)
    conv.train()
    fast = conv(x)
    fast.square().sum().backward()
    fast_grad, fast_weight_grad = x.grad.clone(), conv.weight.grad.clone()
    x.grad, conv.weight.grad = None, None
    conv.eval()
    plain = conv(x)
    plain.square().sum().backward()
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast_grad, x.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast_weight_grad, conv.weight.grad, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize(("channels", "planar", "multiple"), [
    ((4, 8), 0, 2), ((4, 8, 16), 0, 4), ((4, 8, 16), 1, 2), ((4, 8, 16, 32), 1, 4),
    ((4, 8, 16, 32), 3, 1),
])
def test_network_keeps_the_shape_of_any_allowed_depth(channels: tuple[int, ...], planar: int,
                                                      multiple: int) -> None:
    network = SEUNet3d(channels, planar).eval()
    assert network.depth_multiple == multiple
    x = torch.rand(2, 1, 3 * multiple, 32, 32)
    with torch.no_grad():
        assert network(x).shape == x.shape
    assert multiply_accumulates(network, 24, 256, 256) > 0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"channels": (8,)}, "≥ 2 positive widths"),
    ({"channels": (8, 0)}, "≥ 2 positive widths"),
    ({"channels": (8, 16), "planar_levels": 2}, "planar_levels must be in 0..1"),
    ({"channels": (8, 16), "ungated_levels": 2}, "ungated_levels must be in 0..1"),
])
def test_network_rejects_bad_shapes(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SEUNet3d(**kwargs)


def test_focal_loss_is_the_formula() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0])
    target = torch.tensor([1.0, 0.0, 0.0, 1.0])
    p = torch.sigmoid(logits)
    p_t = torch.where(target == 1, p, 1 - p)
    alpha_t = torch.where(target == 1, 0.25, 0.75)
    expected = (-alpha_t * (1 - p_t) ** 2 * torch.log(p_t)).mean()
    torch.testing.assert_close(focal_loss(logits, target), expected)
    # γ = 0 and α = ½ is half the binary cross-entropy.
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    torch.testing.assert_close(focal_loss(logits, target, alpha=0.5, gamma=0), bce / 2)
    with pytest.raises(ValueError, match="alpha=2"):
        focal_loss(logits, target, alpha=2)


def test_dice_loss_and_combined_loss() -> None:
    target = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert soft_dice_loss(torch.tensor([20.0, 20.0, -20.0, -20.0]), target) < 1e-3
    # All wrong: only the smoothing term (1) is left, 1 − 1 / (2 + 2 + 1).
    assert soft_dice_loss(torch.tensor([-20.0, -20.0, 20.0, 20.0]), target) == pytest.approx(
        0.8, abs=1e-4)
    logits = torch.zeros(4)
    combined = segmentation_loss("focal+dice", logits, target)
    torch.testing.assert_close(combined, 10 * focal_loss(logits, target)
                               + soft_dice_loss(logits, target))
    with pytest.raises(ValueError, match="unknown loss"):
        segmentation_loss("bce", logits, target)


@pytest.mark.parametrize(("prediction", "truth", "expected"), [
    ([0, 0, 0], [0, 0, 0], 1.0),
    ([1, 0, 0], [0, 0, 0], 0.0),
    ([1, 1, 0], [1, 0, 0], 2 / 3),
    ([1, 1, 0], [1, 1, 0], 1.0),
])
def test_dice(prediction: list[int], truth: list[int], expected: float) -> None:
    assert dice(np.array(prediction, bool), np.array(truth, bool)) == pytest.approx(expected)


def test_otsu_splits_two_populations() -> None:
    rng = np.random.default_rng(0)
    volume = np.concatenate([rng.normal(0.2, 0.03, 5000), rng.normal(0.7, 0.03, 5000)])
    assert 0.3 < otsu_threshold(volume.astype(np.float32)) < 0.6


def test_summary_has_a_bootstrap_interval() -> None:
    s = summary([0.8, 0.9, 0.85, 0.95, 0.7])
    assert s["n"] == 5 and s["ci95"][0] <= s["mean"] <= s["ci95"][1]
    assert summary([])["mean"] is None


def test_crops_have_the_profile_shape_and_find_lesions(cohort_cases: list) -> None:
    sampler = CropSampler(cohort_cases, (8, 48, 48), lesion_share=1.0, seed=0)
    volumes, masks = sampler.sample(6)
    assert volumes.shape == masks.shape == (6, 1, 8, 48, 48)
    assert volumes.dtype == np.float32
    assert (masks.reshape(6, -1).max(axis=1) > 0).sum() >= 4  # centred on lesion voxels


def test_ingestion_is_cached(small_cohort: Path, segmenter_bundle: Path) -> None:
    cache = segmenter_bundle.parent / "cache"
    files = sorted(cache.rglob("*.npz"))
    assert len(files) == 12
    before = [f.stat().st_mtime_ns for f in files]
    cases = load_cohort(small_cohort, cache, limit=3)
    assert [f.stat().st_mtime_ns for f in files] == before
    assert cases[0].volume.shape[1:] == (256, 256) and cases[0].mask.shape == cases[0].volume.shape


def _with_running_statistics(network: SEUNet3d) -> SEUNet3d:
    """The network in eval mode with non-trivial batch-norm statistics (as after training)."""
    generator = torch.Generator().manual_seed(1)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            c = module.num_features
            module.running_mean = torch.rand(c, generator=generator) - 0.5
            module.running_var = torch.rand(c, generator=generator) + 0.5
            module.weight.data = torch.rand(c, generator=generator) + 0.5
            module.bias.data = torch.rand(c, generator=generator) - 0.5
    return network.eval()


@pytest.mark.parametrize(("channels", "planar_levels", "ungated_levels"),
                         [((4, 8, 16), 1, 0), ((4, 8, 8, 16), 0, 0), ((4, 8, 8, 16), 2, 0),
                          ((4, 8, 8, 16), 2, 1), ((4, 8, 16), 0, 2)])
def test_slice_major_network_computes_the_3d_network(channels: tuple[int, ...],
                                                     planar_levels: int,
                                                     ungated_levels: int) -> None:
    torch.manual_seed(0)
    network = _with_running_statistics(SEUNet3d(channels, planar_levels,
                                                ungated_levels=ungated_levels))
    volume = torch.rand(2, 1, 3 * network.depth_multiple, 24, 40)
    with torch.no_grad():
        expected = SigmoidOutput(network)(volume)
        actual = SliceMajorUNet(network)(volume)
    assert actual.shape == expected.shape
    assert float((actual - expected).abs().max()) < 1e-5
    with pytest.raises(ValueError, match="eval"):
        SliceMajorUNet(network.train())


@pytest.mark.parametrize("ungated_levels", [0, 1, 2])
def test_ungated_levels_lose_their_gate_in_torch_and_in_the_exported_graph(
        ungated_levels: int) -> None:
    import onnx

    network = SEUNet3d((4, 8, 16), planar_levels=1, ungated_levels=ungated_levels).eval()
    blocks = [*network.encoders, *network.decoders]
    gated = [isinstance(b.se, SqueezeExcitation3d) for b in blocks]
    # encoder levels 0, 1, 2, then decoder levels 1, 0
    assert gated == [level >= ungated_levels for level in (0, 1, 2, 1, 0)]
    graph = onnx.load_from_string(export_onnx(network)).graph
    sigmoids = sum(node.op_type == "Sigmoid" for node in graph.node)
    assert sigmoids == sum(gated) + 1  # one per gate, one at the output


@pytest.mark.parametrize("layout", ["slice_major", "volumetric"])
def test_export_is_dynamic_and_matches_torch(layout: str) -> None:
    import onnx

    torch.manual_seed(0)
    network = _with_running_statistics(SEUNet3d((4, 8, 16), planar_levels=0))
    content = export_onnx(network, layout=layout)  # type: ignore[arg-type]
    model = onnx.load_from_string(content)
    assert model.opset_import[0].version >= 17 and OPSET >= 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[2].dim_param and dims[3].dim_value == 256
    kernels = {len(a.ints) for node in model.graph.node if node.op_type.startswith("Conv")
               for a in node.attribute if a.name == "kernel_shape"}
    initialisers = {len(t.dims) for t in model.graph.initializer}
    # The slice-major graph holds 2-D kernels only: what onnxruntime runs in its NCHWc layout.
    assert (5 not in initialisers) == (layout == "slice_major"), initialisers
    assert (kernels <= {2}) == (layout == "slice_major"), kernels
    rng = np.random.default_rng(0)
    volumes = [rng.random((d, 256, 256), dtype=np.float32) for d in (1, 5, 10)]
    assert parity(content, network, volumes) < PARITY_TOLERANCE


def test_bundle_entry_records_model_metrics_and_versions(segmenter_bundle: Path,
                                                         manifest_entry: dict) -> None:
    ref = manifest_entry["files"]["model"]
    content = (segmenter_bundle / ref["path"]).read_bytes()
    assert hashlib.sha256(content).hexdigest() == ref["sha256"]
    metrics = manifest_entry["metrics"]
    assert metrics["onnx_parity"]["max_abs_difference"] <= PARITY_TOLERANCE
    assert metrics["onnx_parity"]["volumes"] >= 1
    test = metrics["test"]
    for name in ("dice", "otsu_dice"):
        assert 0 <= test[name]["mean"] <= 1 and len(test[name]["ci95"]) == 2
    assert len(test["per_patient_dice"]) == test["patients"] > 0
    assert {"torch", "onnx", "onnxruntime", "python"} <= set(manifest_entry["versions"])
    parameters = manifest_entry["parameters"]
    assert parameters["profile"]["name"] == "tiny" and parameters["loss"] == "focal"
    assert parameters["depth_multiple"] == 2
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert parameters["device"].split(" ")[0] == expected_device
    assert 0 < manifest_entry["threshold"] < 1
    assert manifest_entry["training_data"]["clinical.csv_sha256"]
    history = metrics["training"]["history"]
    assert history and all(0 <= h["validation_dice"] <= 1 for h in history)


def test_train_returns_the_entry_it_wrote_and_the_command_prints_it(
        segmenter_bundle: Path, small_cohort: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from cervixai.bundle import load_bundle
    from cervixai.segmentation.cli import main
    from cervixai.segmentation.training.profiles import PROFILES
    from cervixai.segmentation.training.run import TrainOptions, train

    cache = segmenter_bundle.parent / "cache"   # the fixture's ingested volumes
    limit = "12"   # the fixture's patients: 2 of them in the test split
    result = train(TrainOptions(small_cohort, tmp_path / "a",
                                PROFILES["tiny"].with_overrides(max_steps=2), cache=cache,
                                limit=int(limit), progress=False, device="cpu"))
    assert result.bundle == tmp_path / "a" and result.reports == () and not result.skipped
    assert result.entries == (load_bundle(tmp_path / "a").entry("segmenter"),)
    assert result.entry("segmenter").created and result.seconds > 0
    assert main(["segmenter", "--cohort", str(small_cohort), "--out", str(tmp_path / "b"),
                 "--profile", "tiny", "--max-steps", "2", "--cache", str(cache), "--limit", limit,
                 "--no-progress", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    entry = load_bundle(tmp_path / "b").entry("segmenter")
    assert printed["entries"] == [{"name": "segmenter", "version": entry.version,
                                   "algorithm": "3d_se_unet", "feature_set": "image",
                                   "threshold": entry.threshold}]
    assert printed["bundle"] == str(tmp_path / "b") and printed["reports"] == []
    assert printed["test_dice"] == entry.metrics["test"]["dice"]


def test_batch_norm_recalibration_replaces_running_statistics_by_their_average() -> None:
    from cervixai.segmentation.training.loop import recalibrate_batch_norm

    class FixedSampler:
        def __init__(self, seed: int) -> None:
            self.rng = np.random.default_rng(seed)

        def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
            v = self.rng.random((batch, 1, 4, 16, 16), dtype=np.float32)
            return v, np.zeros_like(v)

    results = []
    for garbage in (0.0, 5.0):
        torch.manual_seed(0)
        network = SEUNet3d((4, 8), planar_levels=1)
        norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm3d)]
        for m in norms:
            m.running_mean.fill_(garbage)
            m.running_var.fill_(garbage + 1)
        recalibrate_batch_norm(network, FixedSampler(3), batches=4, batch=2)  # type: ignore[arg-type]
        assert not network.training
        assert all(m.momentum == 0.1 and int(m.num_batches_tracked) == 4 for m in norms)
        results.append(torch.cat([m.running_mean for m in norms]))
    # Nothing of the earlier statistics survives: they are the average over the four batches.
    torch.testing.assert_close(results[0], results[1])
    assert float(results[0].abs().max()) > 0


@pytest.mark.parametrize(("name", "expected"), [("cpu", "cpu"), ("auto", None), ("cuda", "cuda")])
def test_training_device_resolution(name: str, expected: str | None) -> None:
    from cervixai.segmentation.training.loop import resolve_device

    if expected == "cuda" and not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA device"):
            resolve_device(name)
        return
    device = resolve_device(name)
    assert device.type == (expected or ("cuda" if torch.cuda.is_available() else "cpu"))


@pytest.mark.parametrize("name", ["gpu", "mps", "tpu:0"])
def test_training_device_refuses_other_names(name: str) -> None:
    from cervixai.segmentation.training.loop import resolve_device

    with pytest.raises((ValueError, RuntimeError), match=name.split(":")[0]):
        resolve_device(name)


def _tiny_cases(count: int) -> list:
    from cervixai.segmentation.training.data import Case

    rng = np.random.default_rng(1)
    cases = []
    for i in range(count):
        volume = rng.random((8, 32, 32), dtype=np.float32) * 0.2
        mask = np.zeros(volume.shape, bool)
        mask[2:6, 10:20, 12:22] = True
        volume[mask] += 0.6
        cases.append(Case(f"P{i}", "train", volume, mask, (4.0, 0.8, 0.8)))
    return cases


@pytest.mark.parametrize("device", [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="needs a CUDA device")),
])
def test_training_returns_a_cpu_network_that_exports(device: str) -> None:
    from cervixai.segmentation.training.loop import train
    from cervixai.segmentation.training.profiles import PROFILES

    cases = _tiny_cases(4)
    profile = PROFILES["tiny"].with_overrides(crop=(8, 32, 32), max_steps=4, planar_levels=1,
                                              ungated_levels=1)
    result = train(cases[:3], cases[3:], profile, device=device, progress=False)
    assert result.device.startswith(device)
    assert all(p.device.type == "cpu" for p in result.network.parameters())
    content = export_onnx(result.network)
    # The exported graph takes the service's 256 × 256 slices, whatever the training crops were.
    volume = np.random.default_rng(2).random((8, 256, 256), dtype=np.float32)
    assert parity(content, result.network, [volume]) < PARITY_TOLERANCE


def test_training_on_cpu_reports_its_device_and_keeps_the_best_validation() -> None:
    from cervixai.segmentation.training.loop import train
    from cervixai.segmentation.training.profiles import PROFILES

    cases = _tiny_cases(4)
    profile = PROFILES["tiny"].with_overrides(crop=(8, 32, 32), max_steps=4, eval_every=2,
                                              patience=5)
    result = train(cases[:3], cases[3:], profile, device="cpu", progress=False)
    assert result.device == "cpu" and result.steps == 4
    scores = [h["validation_dice"] for h in result.history]
    assert len(scores) == 2 and result.best_validation_dice == max(scores)
    assert result.best_step == 2 * (int(np.argmax(scores)) + 1)
