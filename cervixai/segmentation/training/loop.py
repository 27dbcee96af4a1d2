"""The training loop: random crops, Adam, periodic whole-volume validation, early stopping."""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cervixai.segmentation.inference import pad_depth
from cervixai.segmentation.training.data import Case, CropSampler
from cervixai.segmentation.training.losses import segmentation_loss
from cervixai.segmentation.training.metrics import dice
from cervixai.segmentation.training.network import SEUNet3d
from cervixai.segmentation.training.profiles import Profile

log = logging.getLogger(__name__)

# The whole range: focal + Dice pushes lesion probabilities up (its best threshold was 0.75), and
# scoring it at 0.2–0.6 only made its validation Dice look low and jumpy.
VALIDATION_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class TrainingResult:
    """The best network (by validation Dice) and how training went."""

    network: SEUNet3d
    best_validation_dice: float
    best_step: int
    steps: int
    seconds: float
    stopped: str                          # "early stopping", "max steps" or "time limit"
    device: str                           # where the steps ran, e.g. "cpu", "cuda (NVIDIA H200)"
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # for third-party code using the global state


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when torch sees a GPU, else CPU), ``cpu`` or ``cuda[:N]``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda[:N], got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch {torch.__version__} sees no "
                         "CUDA device")
    return device


def device_of(network: torch.nn.Module) -> torch.device:
    return next(network.parameters()).device


@torch.no_grad()
def predict_volume(network: SEUNet3d, volume: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Probabilities for one whole volume (padded to the depth multiple, cropped back), computed
    on the network's device."""
    network.eval()
    depth = volume.shape[0]
    padded = pad_depth(volume, network.depth_multiple)
    inputs = torch.from_numpy(np.ascontiguousarray(padded, np.float32))[None, None]
    logits = network(inputs.to(device_of(network)))
    probabilities: np.ndarray[Any, Any] = torch.sigmoid(logits)[0, 0, :depth].cpu().numpy()
    return probabilities


@torch.no_grad()
def recalibrate_batch_norm(network: SEUNet3d, sampler: CropSampler, batches: int,
                           batch: int) -> None:
    """Set every batch norm's running statistics to their plain average over fresh batches.

    With two crops a batch, the exponential running average follows the last few batches, whose
    statistics swing with what the crops hold; evaluating with it made the validation Dice jump
    between passes (0.56, 0.20, 0.67, 0.43 at steps 200–500) while the training loss fell
    steadily. Averaging over many batches at each validation pass ("precise BN") removes that
    noise; training itself normalises with batch statistics and is unaffected.
    """
    norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    network.train()
    device = device_of(network)
    for _ in range(batches):
        volumes, _ = sampler.sample(batch)
        network(torch.from_numpy(volumes).to(device))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    network.eval()


def validation_dice(network: SEUNet3d, cases: Sequence[Case]) -> float:
    """Mean Dice over whole volumes at the best of a few thresholds."""
    scores = np.zeros((len(cases), len(VALIDATION_THRESHOLDS)))
    for i, case in enumerate(cases):
        p = predict_volume(network, case.volume)
        for j, t in enumerate(VALIDATION_THRESHOLDS):
            scores[i, j] = dice(p >= t, case.mask)
    return float(scores.mean(axis=0).max()) if len(cases) else 0.0


def train(train_cases: Sequence[Case], validation_cases: Sequence[Case], profile: Profile, *,
          loss: str = "focal", seed: int = 0, max_seconds: float | None = None,
          progress: bool = True, device: str = "cpu") -> TrainingResult:
    """Train a :class:`SEUNet3d` on ``train_cases``; keep the weights of the best validation.

    ``device`` is where the steps run (see :func:`resolve_device`); the network comes back on the
    CPU, ready for export. Crops are drawn on the CPU either way, so a seed gives the same crops
    on every device (the arithmetic differs in the last bits between devices).
    """
    if not train_cases:
        raise ValueError("no training patients")
    target = resolve_device(device)
    if target.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop shapes: pick the fastest kernels once
    seed_everything(seed)
    network = SEUNet3d(profile.channels, profile.planar_levels,
                       ungated_levels=profile.ungated_levels).to(target)
    optimiser = torch.optim.Adam(network.parameters(), lr=profile.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, profile.max_steps)
                                                 / profile.max_steps)) * 0.95 + 0.05)
    sampler = CropSampler(train_cases, profile.crop, profile.lesion_share, seed)
    # Its own stream, so that calibrating does not change the training crops.
    calibration = CropSampler(train_cases, profile.crop, profile.lesion_share, seed + 1)
    validation = list(validation_cases)[: profile.validation_patients]
    best = (-1.0, 0, copy.deepcopy(network.state_dict()))
    history: list[dict[str, float]] = []
    since_best = 0
    stopped = "max steps"
    start = time.perf_counter()
    bar = _bar(profile.max_steps, progress)
    running = 0.0
    step = 0
    for step in range(1, profile.max_steps + 1):
        network.train()
        volumes, masks = sampler.sample(profile.batch)
        optimiser.zero_grad(set_to_none=True)
        value = segmentation_loss(loss, network(torch.from_numpy(volumes).to(target)),
                                  torch.from_numpy(masks).to(target))
        value.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        schedule.step()
        running = value.item() if step == 1 else 0.9 * running + 0.1 * value.item()
        elapsed = time.perf_counter() - start
        out_of_time = max_seconds is not None and elapsed > max_seconds
        if step % profile.eval_every == 0 or step == profile.max_steps or out_of_time:
            recalibrate_batch_norm(network, calibration, profile.calibration_batches,
                                   profile.batch)
            score = validation_dice(network, validation)
            history.append({"step": step, "loss": running, "validation_dice": score,
                            "seconds": time.perf_counter() - start})
            if score > best[0]:
                best = (score, step, copy.deepcopy(network.state_dict()))
                since_best = 0
            else:
                since_best += 1
            bar.set_postfix(loss=f"{running:.4f}", val_dice=f"{score:.3f}",
                            best=f"{best[0]:.3f}")
            log.info("step %d: loss %.4f, validation Dice %.3f (best %.3f at step %d), %.0f s",
                     step, running, score, best[0], best[1], elapsed)
            if since_best >= profile.patience:
                stopped = "early stopping"
                break
        else:
            bar.set_postfix(loss=f"{running:.4f}", best=f"{max(best[0], 0):.3f}", refresh=False)
        bar.update(1)
        if out_of_time:
            stopped = "time limit"
            break
    bar.close()
    network.load_state_dict(best[2])
    network.cpu().eval()
    where = (f"cuda ({torch.cuda.get_device_name(target)})" if target.type == "cuda"
             else "cpu")
    return TrainingResult(network, best[0], best[1], step, time.perf_counter() - start, stopped,
                          where, history)


def _bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="segmenter", unit="step", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True)
