"""The ``elepose`` command: train-flow, train-lifter, evaluate, lift."""

from __future__ import annotations

import argparse
import json
import logging
import sys

DATA_HELP = (
    "a dataset directory saved with save_to_disk, an ElePose-Bench or mocap .npz, a COCO keypoint .json, "
    "or 'default' (the shipped CMU motion capture seen through random virtual cameras)"
)


def _add_training_arguments(parser: argparse.ArgumentParser, epochs: int, learning_rate: float) -> None:
    parser.add_argument("--train", default="default", help=f"training 2D poses: {DATA_HELP}")
    parser.add_argument("--output", required=True, help="output directory (model, checkpoints, logs)")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=256, help="per process; effective = processes x this")
    parser.add_argument("--learning-rate", type=float, default=learning_rate)
    parser.add_argument("--weight-decay", type=float, default=1e-5)
    parser.add_argument(
        "--lr-schedule",
        choices=["paper", "cosine"],
        default="paper",
        help="paper: this stage's per-epoch schedule (below); cosine: anneal to 0 over the run, step by step",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output")
    parser.add_argument(
        "--mixed-precision",
        choices=["no", "bf16", "fp16"],
        default=None,
        help="autocast precision of the large matrix products (lifter layers; the flow's coupling sub-networks "
        "in train-flow; bf16 also on CPU; geometry, PCA, densities and a frozen flow stay float32); default: "
        "accelerate launch's setting, else no",
    )
    parser.add_argument("--max-train-poses", type=int, default=None, help="use only the first N training poses")
    parser.add_argument("--log-with", default="tensorboard", help="accelerate tracker, or 'none'")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _common(args: argparse.Namespace) -> dict:
    return {
        "train": args.train,
        "output_dir": args.output,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "weight_decay": args.weight_decay,
        "lr_schedule": args.lr_schedule,
        "seed": args.seed,
        "checkpoint_every": args.checkpoint_every,
        "resume": args.resume,
        "mixed_precision": args.mixed_precision,
        "max_train_poses": args.max_train_poses,
        "log_with": args.log_with,
        "progress": not args.no_progress,
    }


def _train_flow(args: argparse.Namespace) -> None:
    from .training import FlowTrainingArguments, train_flow

    flow_config = {
        "num_pca_components": None if args.no_pca else args.pca_components,
        "num_blocks": args.blocks,
        "hidden_size": args.hidden_size,
        "normalization": args.normalization,
    }
    train_flow(
        FlowTrainingArguments(
            **_common(args), lr_milestones=tuple(args.lr_milestones), flow_config=flow_config, compile=args.compile
        )
    )


def _train_lifter(args: argparse.Namespace) -> None:
    from .training import LifterTrainingArguments, train_lifter

    lifter_config = {}
    if args.hidden_size is not None:
        lifter_config["hidden_size"] = args.hidden_size
    if args.no_elevation:
        lifter_config["use_elevation"] = False
    if args.no_bone_prior:
        lifter_config["loss_weight_bone"] = 0.0
    train_lifter(
        LifterTrainingArguments(
            **_common(args),
            flow=args.flow,
            val=args.val,
            lr_decay=args.lr_decay,
            bone_reference=args.bone_reference,
            init_from=args.init_from,
            lifter_config=lifter_config,
        )
    )


def _evaluate(args: argparse.Namespace) -> None:
    from .training import METRIC_LABELS, evaluate

    results = evaluate(args.model, args.datasets)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    keys = list(METRIC_LABELS)
    width = max(len(source) for source in results)
    print(f"{'dataset':<{width}}  " + "  ".join(f"{METRIC_LABELS[k]:>14}" for k in keys))
    for source, metrics in results.items():
        print(f"{source:<{width}}  " + "  ".join(f"{metrics[k]:>14.2f}" for k in keys))


def _lift(args: argparse.Namespace) -> None:
    from .keypoint_io import read_keypoints, write_results
    from .pipeline import ElePosePipeline

    if not args.output.lower().endswith((".npz", ".json")):
        raise ValueError(f"--output {args.output}: results are written as .npz or .json")
    pipeline = ElePosePipeline.from_pretrained(args.model, device=args.device)
    keypoints = read_keypoints(args.input, args.format)
    result = pipeline(
        keypoints,
        body_height_m=args.body_height,
        num_projections=args.num_projections,
        seed=args.seed,
        skip_incomplete=args.skip_incomplete,
    )
    write_results(args.output, result)
    mean_nll = f"{result.nll.mean():.3f}" if args.num_projections > 0 else "not computed"
    skipped = len(keypoints) - len(result)
    note = f" ({skipped} skipped: too few joints)" if skipped else ""
    print(f"{args.input}: {len(result)} poses{note}, mean nll {mean_nll} -> {args.output}")


def _push_to_hub(args: argparse.Namespace) -> None:
    from .model_dir import push_model_dir

    print(push_model_dir(args.model, args.repo_id, model_card=args.model_card, private=args.private))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elepose", description="ElePose: unsupervised 2D-to-3D human pose lifting")
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    flow = commands.add_parser("train-flow", help="stage 1: the normalizing-flow prior on 2D poses")
    _add_training_arguments(flow, epochs=100, learning_rate=1e-4)
    flow.add_argument(
        "--lr-milestones", type=int, nargs="*", default=[10, 20, 30], help="paper schedule: epochs where lr /= 10"
    )
    flow.add_argument("--pca-components", type=int, default=26)
    flow.add_argument("--no-pca", action="store_true", help="ablation: the flow on raw 34-D poses")
    flow.add_argument("--blocks", type=int, default=8)
    flow.add_argument("--hidden-size", type=int, default=1024)
    flow.add_argument("--normalization", choices=["dataset", "per_pose"], default="dataset")
    flow.add_argument(
        "--compile", action="store_true", help="torch.compile the flow (faster steps after ~30 s of compiling)"
    )
    flow.set_defaults(handler=_train_flow)

    lifter = commands.add_parser("train-lifter", help="stage 2: the lifting network against the frozen flow")
    _add_training_arguments(lifter, epochs=100, learning_rate=2e-4)
    lifter.add_argument("--flow", required=True, help="directory written by train-flow")
    lifter.add_argument("--val", action="append", default=[], help=f"evaluation set with 3D (repeatable): {DATA_HELP}")
    lifter.add_argument("--lr-decay", type=float, default=0.95, help="paper schedule: lr x this per epoch")
    lifter.add_argument("--init-from", default=None, help="fine-tune this trained model directory")
    lifter.add_argument("--hidden-size", type=int, default=None, help="lifter width (default 1024)")
    lifter.add_argument("--no-elevation", action="store_true", help="ablation: fixed elevation prior U(-20, 20) deg")
    lifter.add_argument(
        "--bone-reference",
        choices=["train", "h36m"],
        default="train",
        help="mean relative bone lengths of the bone prior: estimated from the --train 2D poses (default) or "
        "Human3.6M's (the paper's)",
    )
    lifter.add_argument("--no-bone-prior", action="store_true", help="ablation: without the bone-length prior")
    lifter.set_defaults(handler=_train_lifter)

    evaluate = commands.add_parser("evaluate", help="metrics of a trained model on datasets with 3D ground truth")
    evaluate.add_argument("model", help="model directory (lifter + flow/)")
    evaluate.add_argument("datasets", nargs="+", help=DATA_HELP)
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(handler=_evaluate)

    push = commands.add_parser("push-to-hub", help="upload a model directory (lifter + flow/ + model card)")
    push.add_argument("model", help="model directory (lifter + flow/)")
    push.add_argument("repo_id", help="Hub repository, e.g. user/elepose-mine")
    push.add_argument("--model-card", default=None, help="markdown uploaded as README.md (e.g. MODEL_CARD.md)")
    push.add_argument("--private", action="store_true")
    push.set_defaults(handler=_push_to_hub)

    lift = commands.add_parser("lift", help="lift 2D keypoints (files or an image) to 3D with a trained model")
    lift.add_argument(
        "input",
        help="an .npz (keypoints_2d), a COCO keypoint .json, an OpenPose JSON folder or file, a .csv, or an image",
    )
    lift.add_argument("--model", default=None, help="model directory or Hub repo id (default: the bundled model)")
    lift.add_argument("--output", required=True, help="results file: .npz (arrays) or .json (one record per pose)")
    lift.add_argument(
        "--format", default=None, help="keypoint format of .npz/.csv input (default: from the joint count)"
    )
    lift.add_argument("--body-height", type=float, default=1.75, help="assumed body height in metres (metric output)")
    lift.add_argument("--num-projections", type=int, default=100, help="virtual views per pose for the NLL (0: skip)")
    lift.add_argument("--seed", type=int, default=0, help="seed of the virtual views")
    lift.add_argument("--skip-incomplete", action="store_true", help="drop poses with fewer than 8 observed joints")
    lift.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    lift.set_defaults(handler=_lift)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"elepose {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
