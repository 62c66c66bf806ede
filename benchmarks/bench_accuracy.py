"""Accuracy on ElePose-Bench: train both stages on ``train_2d.npz`` and evaluate on ``val.npz`` and ``val_cmu.npz``.

Budget (a), comparable with the authors' code on this machine: ``--flow-epochs 20 --lifter-epochs 5`` (defaults),
the flow at the paper's schedule; ``--flow-lr-milestones`` with no value keeps the flow's learning rate constant,
as the authors' released pretraining script does (its scheduler is never stepped).
Ablations (Table 5 of the paper) reuse or retrain the flow: ``--no-elevation``, ``--no-bone-prior``, ``--no-pca``,
``--pca-components K``, ``--whiten``. Results (metrics, stage wall times, training throughput) go to
``OUTPUT/results.json``.

    python benchmarks/bench_accuracy.py --output runs/budget_a [--mixed-precision bf16 --compile-flow]
    python benchmarks/bench_accuracy.py --output runs/ablation --reuse-flow runs/budget_a/flow --no-bone-prior
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from elepose_hf.metrics import pose_metrics
from elepose_hf.training import (
    METRIC_LABELS,
    FlowTrainingArguments,
    LifterTrainingArguments,
    evaluate,
    steps_per_epoch,
    train_flow,
    train_lifter,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bench"


def flat_depth_baseline(path: Path) -> dict[str, float]:
    """Scale-free metrics of lifting every joint to the same depth (the pose stays a flat cut-out)."""
    data = np.load(path)
    keypoints = data["keypoints_2d"].astype(np.float64)
    flat = np.concatenate([keypoints - keypoints[:, :1], np.zeros_like(keypoints[..., :1])], axis=-1)
    metrics = pose_metrics(flat, data["keypoints_3d"].astype(np.float64))
    return {k: metrics[k] for k in ("pa_mpjpe", "n_mpjpe")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True)
    parser.add_argument("--train", default=str(SHARED / "train_2d.npz"))
    parser.add_argument("--val", nargs="+", default=[str(SHARED / "val.npz"), str(SHARED / "val_cmu.npz")])
    parser.add_argument("--flow-epochs", type=int, default=20)
    parser.add_argument("--lifter-epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16"])
    parser.add_argument("--compile-flow", action="store_true", help="torch.compile the flow in stage 1")
    parser.add_argument(
        "--flow-lr-milestones", type=int, nargs="*", default=[10, 20, 30], help="epochs where the flow's lr /= 10"
    )
    parser.add_argument("--lifter-lr", type=float, default=2e-4)
    for stage in ("flow", "lifter"):
        parser.add_argument(f"--{stage}-lr-schedule", choices=["paper", "cosine"], default="paper")
    parser.add_argument("--reuse-flow", default=None, help="skip stage 1 and use this trained flow directory")
    parser.add_argument("--pca-components", type=int, default=26)
    parser.add_argument("--no-pca", action="store_true")
    parser.add_argument("--whiten", action="store_true", help="whiten the flow's PCA inputs (the ablated design)")
    parser.add_argument("--no-elevation", action="store_true")
    parser.add_argument("--no-bone-prior", action="store_true")
    parser.add_argument("--bone-reference", choices=["train", "h36m"], default="train", help="h36m: the paper's")
    parser.add_argument("--max-train-poses", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    output = Path(args.output)
    common = {
        "train": args.train,
        "batch_size": args.batch_size,
        "mixed_precision": args.mixed_precision,
        "max_train_poses": args.max_train_poses,
        "seed": args.seed,
        "checkpoint_every": 10**9,
        "log_with": None,
    }
    results: dict = {"args": vars(args), "threads": torch.get_num_threads()}
    num_poses = args.max_train_poses or len(np.load(args.train)["keypoints_2d"])

    flow_dir = args.reuse_flow
    if flow_dir is None:
        flow_dir = str(output / "flow")
        flow_config = {"num_pca_components": None if args.no_pca else args.pca_components, "whiten": args.whiten}
        start = time.perf_counter()
        train_flow(
            FlowTrainingArguments(
                **common,
                output_dir=flow_dir,
                epochs=args.flow_epochs,
                flow_config=flow_config,
                compile=args.compile_flow,
                lr_milestones=tuple(args.flow_lr_milestones),
                lr_schedule=args.flow_lr_schedule,
            )
        )
        seconds = time.perf_counter() - start
        steps = steps_per_epoch(num_poses, args.batch_size) * args.flow_epochs
        results["flow"] = {"seconds": seconds, "steps": steps, "poses_per_s": steps * args.batch_size / seconds}

    lifter_config = {}
    if args.no_elevation:
        lifter_config["use_elevation"] = False
    if args.no_bone_prior:
        lifter_config["loss_weight_bone"] = 0.0
    start = time.perf_counter()
    train_lifter(
        LifterTrainingArguments(
            **common,
            output_dir=str(output / "model"),
            epochs=args.lifter_epochs,
            learning_rate=args.lifter_lr,
            lr_schedule=args.lifter_lr_schedule,
            bone_reference=args.bone_reference,
            flow=flow_dir,
            val=args.val,
            lifter_config=lifter_config,
        )
    )
    seconds = time.perf_counter() - start
    steps = steps_per_epoch(num_poses, args.batch_size) * args.lifter_epochs
    results["lifter"] = {"seconds": seconds, "steps": steps, "poses_per_s": steps * args.batch_size / seconds}
    results["final"] = evaluate(output / "model", args.val)
    results["flat_depth_baseline"] = {source: flat_depth_baseline(Path(source)) for source in args.val}
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.json").write_text(json.dumps(results, indent=2))
    for source, metrics in results["final"].items():
        values = ", ".join(f"{label} {metrics[key]:.1f}" for key, label in METRIC_LABELS.items())
        print(f"{Path(source).name}: {values}")
    for stage in ("flow", "lifter"):
        if stage in results:
            timing = results[stage]
            print(f"{stage}: {timing['seconds']:.0f} s, {timing['seconds'] / timing['steps'] * 1e3:.1f} ms/step")


if __name__ == "__main__":
    main()
