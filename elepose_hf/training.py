"""The two training stages of ElePose on ``accelerate``: the flow prior on 2D poses, then the lifter against it.

Both run unchanged on one CPU process or under ``accelerate launch`` on N GPUs (DDP). ``batch_size`` is per
process, so the effective batch is ``N * batch_size``; the learning rates are not rescaled (scale them yourself
with the effective batch if you change it a lot), and the schedules advance once per optimizer step whatever N.
``lr_schedule="cosine"`` anneals the rate to zero over the run instead of the paper's per-epoch schedule (at
the 5-epoch CPU budget of ``BENCHMARKS.md`` it was worse for the lifter and no better for the flow). Checkpoints
(``accelerator.save_state`` plus the loop position) are written atomically to ``OUTPUT/checkpoints/step-N`` every
``checkpoint_every`` steps and at the end of each epoch; ``resume=True`` continues from the newest one at the
same step.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from .configuration_elepose import ElePoseConfig, PoseFlowConfig
from .data import load_poses, pose_arrays, validate_poses
from .geometry import root_to_head_distance
from .losses import ElePoseObjective, relative_bone_lengths_from_2d
from .metrics import pose_metrics
from .model_dir import load_model_dir, save_model_dir
from .modeling_elepose import ElePoseLifter, PoseFlowPrior
from .skeleton import REFERENCE_RELATIVE_BONE_LENGTHS

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
STATE_FILE = "loop_state.json"
LR_SCHEDULES = ("paper", "cosine")
BONE_REFERENCES = ("h36m", "train")


@dataclass
class TrainingArguments:
    """Settings of one training run (model hyper-parameters live in the model configs)."""

    train: str = "default"
    output_dir: str = "elepose-model"
    epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 2e-4
    weight_decay: float = 1e-5
    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    resume: bool = False
    mixed_precision: str | None = None
    max_train_poses: int | None = None
    log_with: str | None = "tensorboard"
    progress: bool = True
    lr_schedule: str = "paper"

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule {self.lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")


@dataclass
class FlowTrainingArguments(TrainingArguments):
    """Stage 1 (paper: Adam 1e-4, weight decay 1e-5, lr / 10 after epochs 10, 20 and 30).

    ``compile`` runs the flow through ``torch.compile`` (a C++ compiler on CPU; the first step compiles for about
    half a minute): its many small operations fuse, and a CPU step takes 60–70 % of the eager time
    (BENCHMARKS.md).
    """

    learning_rate: float = 1e-4
    lr_milestones: tuple[int, ...] = (10, 20, 30)
    flow_config: dict = field(default_factory=dict)
    compile: bool = False

    def paper_lr_factor(self, epoch: int) -> float:
        return 0.1 ** sum(epoch >= milestone for milestone in self.lr_milestones)


@dataclass
class LifterTrainingArguments(TrainingArguments):
    """Stage 2 (paper: Adam 2e-4, ExponentialLR 0.95 per epoch); ``init_from`` fine-tunes a trained model.

    ``bone_reference``: the mean relative bone lengths of the bone prior, ``"train"`` (default) estimated from the
    training 2D poses (``losses.relative_bone_lengths_from_2d``; it relies on the views being varied, as the
    random virtual cameras already do), or ``"h36m"``, the paper's Human3.6M ratios.
    """

    flow: str = ""
    val: list[str] = field(default_factory=list)
    lr_decay: float = 0.95
    init_from: str | None = None
    lifter_config: dict = field(default_factory=dict)
    elevation_poses: int = 50_000
    bone_reference: str = "train"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bone_reference not in BONE_REFERENCES:
            raise ValueError(f"bone_reference {self.bone_reference!r}: choose one of {', '.join(BONE_REFERENCES)}")

    def paper_lr_factor(self, epoch: int) -> float:
        return self.lr_decay**epoch


def _keypoints(source: str, max_poses: int | None = None, require_3d: bool = False) -> dict[str, np.ndarray]:
    """Validated pose arrays of a dataset source (see ``data.load_poses``)."""
    dataset = load_poses(source)
    validate_poses(dataset, require_3d=require_3d)
    if max_poses is not None and len(dataset) > max_poses:
        dataset = dataset.select(range(max_poses))
    columns = ["keypoints_2d"] + (["keypoints_3d", "camera_elevation_deg"] if require_3d else [])
    columns += [c for c in ("confidence",) if c in dataset.column_names]
    arrays = pose_arrays(dataset, columns)
    if "confidence" in arrays:
        complete = (arrays["confidence"] > 0).all(axis=1)
        if not complete.all():
            logger.warning("%s: skipping %d poses with missing joints", source, int((~complete).sum()))
            arrays = {name: values[complete] for name, values in arrays.items()}
    return arrays


def dataset_scale(keypoints_2d: torch.Tensor) -> float:
    """Mean root-to-head distance of 2D poses ``(N, J, 2)``: the dataset-level normalization constant."""
    return float(root_to_head_distance(keypoints_2d).mean())


def _batches(
    num_poses: int, batch_size: int, epoch: int, seed: int, accelerator: Accelerator
) -> Iterator[torch.Tensor]:
    """This process's index batches of a seeded per-epoch shuffle (equal counts on every process, last dropped)."""
    order = torch.randperm(num_poses, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    per_step = batch_size * accelerator.num_processes
    steps = num_poses // per_step
    order = order[: steps * per_step].view(steps, accelerator.num_processes, batch_size)
    yield from order[:, accelerator.process_index]


def steps_per_epoch(num_poses: int, batch_size: int, num_processes: int = 1) -> int:
    return num_poses // (batch_size * num_processes)


def lr_scheduler(
    optimizer: torch.optim.Optimizer, args: FlowTrainingArguments | LifterTrainingArguments, per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning-rate factor of each optimizer step: the stage's paper schedule, or cosine annealing to 0.

    The paper's schedules are per epoch (``args.paper_lr_factor(epoch)``, ``epoch`` 0-based).

    Stepped once per optimizer step, so ``accelerator.prepare`` must not step it once per process (see
    ``_accelerator``).
    """
    total = per_epoch * args.epochs
    if args.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: args.paper_lr_factor(step // per_epoch))


def _latest_checkpoint(output_dir: Path) -> Path | None:
    candidates = [p for p in (output_dir / CHECKPOINTS).glob("step-*") if (p / STATE_FILE).is_file()]
    return max(candidates, key=lambda p: int(p.name.split("-")[1]), default=None)


def _save_checkpoint(accelerator: Accelerator, output_dir: Path, loop_state: dict, keep: int) -> None:
    """``save_state`` into a temporary folder, then rename: a killed run never leaves a half-written checkpoint."""
    folder = output_dir / CHECKPOINTS
    final = folder / f"step-{loop_state['step']}"
    partial = folder / f".partial-step-{loop_state['step']}"
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()  # every process has written its part (e.g. its RNG state) before the rename
    if accelerator.is_main_process:
        (partial / STATE_FILE).write_text(json.dumps(loop_state))
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        older = sorted((p for p in folder.glob("step-*") if p != final), key=lambda p: int(p.name.split("-")[1]))
        for stale in older[: max(0, len(older) - keep + 1)]:
            shutil.rmtree(stale)
    accelerator.wait_for_everyone()


def _accelerator(args: TrainingArguments) -> Accelerator:
    log_with = args.log_with if args.log_with not in (None, "none") else None
    # step_scheduler_with_optimizer=False: a prepared scheduler would otherwise advance N steps per step on N processes
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        log_with=log_with,
        project_dir=args.output_dir,
        step_scheduler_with_optimizer=False,
    )
    set_seed(args.seed)
    # Denormal floats appear in the flow as its scales adapt and slow CPU steps several-fold: flush them to zero.
    torch.set_flush_denormal(True)
    return accelerator


def adam_optimizer(parameters, args: TrainingArguments) -> torch.optim.Adam:
    """Adam with L2 weight decay as in the paper, as one fused kernel over all tensors (``args``' lr and decay)."""
    return torch.optim.Adam(parameters, lr=args.learning_rate, weight_decay=args.weight_decay, fused=True)


def _run_epochs(
    accelerator: Accelerator,
    args: TrainingArguments,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    poses: torch.Tensor,
    step_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    end_of_epoch: Callable[[int], dict[str, float]] | None = None,
) -> int:
    """The shared loop: shuffled batches, optimizer steps, checkpoints, resumption, progress and logging.

    ``step_fn(batch)`` returns the loss terms (``"loss"`` is minimized); ``end_of_epoch(epoch)`` may return metrics
    to log. Returns the final global step.
    """
    output_dir = Path(args.output_dir)
    per_epoch = steps_per_epoch(len(poses), args.batch_size, accelerator.num_processes)
    if per_epoch == 0:
        raise ValueError(
            f"train: {len(poses)} poses are fewer than one batch of {args.batch_size} x {accelerator.num_processes} "
            "processes; lower --batch-size"
        )
    total = per_epoch * args.epochs
    step = 0
    if args.resume:
        checkpoint = _latest_checkpoint(output_dir)
        if checkpoint is None:
            logger.warning("--resume: no checkpoint in %s, starting from scratch", output_dir / CHECKPOINTS)
        else:
            accelerator.load_state(str(checkpoint))
            step = json.loads((checkpoint / STATE_FILE).read_text())["step"]
            accelerator.print(f"resumed from {checkpoint} at step {step}/{total}")
    bar = tqdm(total=total, initial=step, disable=not (args.progress and accelerator.is_local_main_process))
    poses = poses.to(accelerator.device)
    model.train()
    for epoch in range(step // per_epoch, args.epochs):
        for index, batch in enumerate(_batches(len(poses), args.batch_size, epoch, args.seed, accelerator)):
            if epoch * per_epoch + index < step:
                continue  # already done before the resumed checkpoint
            with accelerator.autocast():
                terms = step_fn(poses[batch.to(accelerator.device)])
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(terms["loss"])
            learning_rate = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            step += 1
            values = {name: value.item() for name, value in terms.items()}
            bar.update(1)
            bar.set_postfix({name: f"{value:.3g}" for name, value in values.items()}, refresh=False)
            accelerator.log({f"train/{k}": v for k, v in values.items()} | {"lr": learning_rate}, step=step)
            if not math.isfinite(values["loss"]):
                raise FloatingPointError(f"loss became {values['loss']} at step {step}; lower the learning rate")
            if step % args.checkpoint_every == 0 and step % per_epoch != 0:
                _save_checkpoint(accelerator, output_dir, {"step": step}, args.keep_checkpoints)
        if end_of_epoch is not None:
            metrics = end_of_epoch(epoch)
            if metrics:
                accelerator.log(metrics, step=step)
        _save_checkpoint(accelerator, output_dir, {"step": step}, args.keep_checkpoints)
    bar.close()
    return step


def train_flow(args: FlowTrainingArguments) -> PoseFlowPrior:
    """Stage 1: fit the PCA and train ``PoseFlowPrior`` by maximum likelihood; saved to ``args.output_dir``."""
    accelerator = _accelerator(args)
    keypoints = torch.from_numpy(_keypoints(args.train, args.max_train_poses)["keypoints_2d"])
    settings = {"normalization_scale": dataset_scale(keypoints)} | dict(args.flow_config)
    flow = PoseFlowPrior(PoseFlowConfig(**settings))
    poses = flow.normalize(keypoints)
    explained = flow.fit_pca(poses)
    if flow.config.num_pca_components:
        kept = float(explained[: flow.config.num_pca_components].sum())
        accelerator.print(f"PCA: {flow.config.num_pca_components} components keep {kept:.4%} of the variance")
    if args.compile:
        flow.compile()  # in place: parameter names, checkpoints and the saved model are those of the eager flow
    optimizer = adam_optimizer(flow.parameters(), args)
    scheduler = lr_scheduler(optimizer, args, steps_per_epoch(len(poses), args.batch_size, accelerator.num_processes))
    model, optimizer, scheduler = accelerator.prepare(flow, optimizer, scheduler)
    accelerator.init_trackers("elepose-flow", config=_loggable(args))

    def step_fn(batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": -model(batch).log_prob.mean()}

    _run_epochs(accelerator, args, model, optimizer, scheduler, poses, step_fn)
    flow = accelerator.unwrap_model(model, keep_torch_compile=False)
    if accelerator.is_main_process:
        save_model_dir(None, flow, Path(args.output_dir))
    accelerator.print(f"flow saved to {args.output_dir}")
    accelerator.end_training()
    return flow


@torch.no_grad()
def _lift_normalized(lifter: ElePoseLifter, poses: torch.Tensor, batch_size: int = 8192) -> tuple[torch.Tensor, ...]:
    """Lift normalized 2D poses ``(N, J, 2)`` in eval mode, in chunks: ``(keypoints_3d (N, J, 3), elevation (N,))``."""
    was_training = lifter.training
    lifter.eval()
    device = next(lifter.parameters()).device
    outputs = [lifter(chunk.to(device)) for chunk in poses.split(batch_size)]
    lifter.train(was_training)
    return torch.cat([o.keypoints_3d for o in outputs]).cpu(), torch.cat([o.elevation for o in outputs]).cpu()


def predict(lifter: ElePoseLifter, keypoints_2d: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Lift pixel 2D poses ``(N, J, 2)`` in eval mode: ``(keypoints_3d (N, J, 3), elevation (N,))``."""
    return _lift_normalized(lifter, lifter.normalize(keypoints_2d))


def evaluate_lifter(lifter: ElePoseLifter, arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """All pose metrics of the core library plus the elevation error in degrees, on arrays with 3D ground truth."""
    keypoints_3d, elevation = predict(lifter, torch.from_numpy(arrays["keypoints_2d"]))
    metrics = pose_metrics(keypoints_3d.double().numpy(), arrays["keypoints_3d"].astype(np.float64))
    metrics.pop("mpjpe")  # the lifter has no metric scale: only scale-free metrics compare
    error = np.abs(np.degrees(elevation.double().numpy()) - arrays["camera_elevation_deg"])
    metrics["elevation_error_deg"] = float(error.mean())
    return metrics


def _loggable(args: TrainingArguments) -> dict:
    return {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in asdict(args).items()}


def _lifter_for(args: LifterTrainingArguments, flow: PoseFlowPrior, keypoints: torch.Tensor) -> ElePoseLifter:
    """A new lifter, or the ``init_from`` model to fine-tune, normalizing like the flow at this data's scale.

    The normalization constant is re-measured on the training poses (``keypoints`` ``(N, J, 2)``), so a model
    fine-tuned on images of another resolution maps them to the same normalized space as the flow.
    """
    settings = {k: getattr(flow.config, k) for k in ("normalization", "normalized_head_length")}
    settings |= {"normalization_scale": dataset_scale(keypoints)}
    settings["reference_bone_lengths"] = (
        relative_bone_lengths_from_2d(keypoints)
        if args.bone_reference == "train"
        else list(REFERENCE_RELATIVE_BONE_LENGTHS)
    )
    settings |= dict(args.lifter_config)
    if not args.init_from:
        return ElePoseLifter(ElePoseConfig(**settings))
    lifter = ElePoseLifter.from_pretrained(args.init_from)
    if settings.get("hidden_size", lifter.config.hidden_size) != lifter.config.hidden_size:
        raise ValueError(f"--hidden-size cannot change the width of the --init-from model {args.init_from}")
    for name, value in settings.items():
        setattr(lifter.config, name, value)
    return lifter


def train_lifter(args: LifterTrainingArguments) -> ElePoseLifter:
    """Stage 2: train ``ElePoseLifter`` against the frozen flow; save lifter + flow to ``args.output_dir``."""
    if not args.flow:
        raise ValueError("train_lifter needs a trained flow: pass --flow FLOW_DIR (from `elepose train-flow`)")
    accelerator = _accelerator(args)
    flow = PoseFlowPrior.from_pretrained(args.flow).to(accelerator.device).eval().requires_grad_(False)
    keypoints = torch.from_numpy(_keypoints(args.train, args.max_train_poses)["keypoints_2d"])
    validation = {Path(source).stem: _keypoints(source, require_3d=True) for source in args.val}
    lifter = _lifter_for(args, flow, keypoints)
    poses = lifter.normalize(keypoints)
    objective = ElePoseObjective(lifter, flow)
    optimizer = adam_optimizer(lifter.parameters(), args)
    scheduler = lr_scheduler(optimizer, args, steps_per_epoch(len(poses), args.batch_size, accelerator.num_processes))
    model, optimizer, scheduler = accelerator.prepare(objective, optimizer, scheduler)
    accelerator.init_trackers("elepose-lifter", config=_loggable(args))
    output_dir = Path(args.output_dir)
    best_path, best = output_dir / "best", math.inf

    def end_of_epoch(epoch: int) -> dict[str, float]:
        nonlocal best
        if not validation or not accelerator.is_main_process:
            return {}
        unwrapped = accelerator.unwrap_model(model, keep_torch_compile=False).lifter
        metrics = {}
        for name, arrays in validation.items():
            results = evaluate_lifter(unwrapped, arrays)
            accelerator.print(f"epoch {epoch + 1} {name}: " + format_metrics(results))
            metrics |= {f"{name}/{k}": v for k, v in results.items()}
        first = next(iter(validation))
        if metrics[f"{first}/pa_mpjpe"] < best:
            best = metrics[f"{first}/pa_mpjpe"]
            _store_elevation_distribution(unwrapped, poses, args.elevation_poses)
            save_model_dir(unwrapped, flow, best_path)
        return metrics

    _run_epochs(accelerator, args, model, optimizer, scheduler, poses, lambda batch: model(batch)[0], end_of_epoch)
    lifter = accelerator.unwrap_model(model, keep_torch_compile=False).lifter
    if accelerator.is_main_process:
        _store_elevation_distribution(lifter, poses, args.elevation_poses)
        save_model_dir(lifter, flow, output_dir)
    accelerator.print(f"model (lifter + flow/) saved to {output_dir}")
    accelerator.end_training()
    return lifter


def _store_elevation_distribution(lifter: ElePoseLifter, poses: torch.Tensor, max_poses: int) -> None:
    """Record mean and std of the predicted elevation over (a fixed subset of) the training poses in the config."""
    subset = poses[torch.randperm(len(poses), generator=torch.Generator().manual_seed(0))[:max_poses]]
    elevation = _lift_normalized(lifter, subset)[1].double()
    lifter.config.elevation_mean = float(elevation.mean())
    lifter.config.elevation_std = float(elevation.std())


METRIC_LABELS = {
    "pa_mpjpe": "PA-MPJPE mm",
    "n_mpjpe": "N-MPJPE mm",
    "n_pck": "N-PCK",
    "auc": "AUC",
    "cps": "CPS",
    "elevation_error_deg": "elev. err. deg",
}


def format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{label} {metrics[key]:.1f}" for key, label in METRIC_LABELS.items() if key in metrics)


def evaluate(model_dir: str | Path, sources: list[str]) -> dict[str, dict[str, float]]:
    """Metrics of a saved model on each dataset source with 3D ground truth."""
    lifter, _ = load_model_dir(model_dir)
    return {source: evaluate_lifter(lifter, _keypoints(source, require_3d=True)) for source in sources}
