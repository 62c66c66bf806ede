"""Convert a lifting network of the ElePose authors' code (``DepthAngleEstimator`` state_dict) to an ``ElePoseLifter``.

The authors released no lifter; this maps any ``DepthAngleEstimator`` trained with their code. Their input layout
(arms swapped, all u then all v), output joint order and elevation sign (their angle is minus ours) are folded
into the weights, so the converted model takes and returns poses in this library's order.

    python conversion/convert_official_lifter.py LIFTER.pt OUT_DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversion._checkpoint import (  # noqa: E402
    H36M_NORMALIZATION_SCALE,
    StateDictSource,
    authors_index,
    check_keys,
    load_state_dict,
)
from elepose_hf import ElePoseConfig, ElePoseLifter  # noqa: E402
from elepose_hf.skeleton import AUTHORS_ORDER, NUM_JOINTS  # noqa: E402

# Our module prefixes -> the authors'.
PREFIXES = {
    "upscale.": "upscale.",
    "shared.0.": "res_common.",
    "depth_branch.0.": "res_pose1.",
    "depth_branch.1.": "res_pose2.",
    "depth_head.": "depth.",
    "elevation_branch.0.": "res_angle1.",
    "elevation_branch.1.": "res_angle2.",
    "elevation_head.": "angles.",
}
RESIDUAL_BLOCKS = ("res_common", "res_pose1", "res_pose2", "res_angle1", "res_angle2")
UNUSED_BATCHNORM = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
LAYOUT = "authors' lifter (DepthAngleEstimator)"


def _authors_key(key: str) -> str:
    """The authors' name of one of our keys."""
    prefix = next(prefix for prefix in PREFIXES if key.startswith(prefix))
    return PREFIXES[prefix] + key.removeprefix(prefix)


def _is_unused_batchnorm(key: str) -> bool:
    """Whether ``key`` belongs to a residual block's batch norm (never applied in the authors' forward)."""
    parts = key.split(".")
    return (
        len(parts) == 3 and parts[0] in RESIDUAL_BLOCKS and parts[1] in ("bn1", "bn2") and parts[2] in UNUSED_BATCHNORM
    )


def convert_official_lifter(
    state_dict_or_path: StateDictSource, normalization_scale: float = H36M_NORMALIZATION_SCALE
) -> ElePoseLifter:
    """The authors' ``DepthAngleEstimator`` as an ``ElePoseLifter`` (eval mode); hidden width from the weights.

    Their batch-norm layers (unused in their forward) are dropped; any other missing, extra or misshapen key
    raises a ``ValueError`` naming it.
    """
    state = load_state_dict(state_dict_or_path)
    for key in ("upscale.weight", "depth.weight"):
        if key not in state or state[key].ndim != 2:
            raise ValueError(f"not the {LAYOUT} layout: no 2D {key!r}; keys: {sorted(state)[:8]}")
    hidden, inputs = state["upscale.weight"].shape
    joints = state["depth.weight"].shape[0]
    if inputs != 2 * joints or joints != NUM_JOINTS:
        raise ValueError(
            f"{LAYOUT} has {inputs} inputs and {joints} depths; expected {2 * NUM_JOINTS} and {NUM_JOINTS}"
        )
    config = ElePoseConfig(
        num_joints=NUM_JOINTS,
        hidden_size=hidden,
        num_shared_blocks=1,
        num_branch_blocks=2,
        negative_slope=0.01,
        input_activation=False,
        fix_root_depth=True,
        depth_offset=10.0,
        normalization="dataset",
        normalization_scale=normalization_scale,
        normalized_head_length=0.1,
    )
    model = ElePoseLifter(config)
    ours = model.state_dict()
    to_ours = {_authors_key(key): key for key in ours}
    used = {key: value for key, value in state.items() if not _is_unused_batchnorm(key)}
    check_keys(used, {key: ours[name] for key, name in to_ours.items()}, LAYOUT)
    renamed = {to_ours[key]: value for key, value in used.items()}
    order = list(AUTHORS_ORDER)
    renamed["upscale.weight"] = renamed["upscale.weight"][:, authors_index()]
    renamed["depth_head.weight"] = renamed["depth_head.weight"][order]
    renamed["depth_head.bias"] = renamed["depth_head.bias"][order]
    renamed["elevation_head.weight"] = -renamed["elevation_head.weight"]
    renamed["elevation_head.bias"] = -renamed["elevation_head.bias"]
    model.load_state_dict(renamed, strict=True)
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lifter", type=Path, help="the authors' DepthAngleEstimator state_dict (.pt)")
    parser.add_argument("out_dir", type=Path, help="folder to save the ElePoseLifter in (save_pretrained)")
    parser.add_argument(
        "--normalization-scale",
        type=float,
        default=H36M_NORMALIZATION_SCALE,
        help="dataset root-to-head distance in pixels the authors divided poses by (default: Human3.6M's)",
    )
    args = parser.parse_args(argv)
    try:
        model = convert_official_lifter(args.lifter, args.normalization_scale)
    except (OSError, ValueError) as err:
        sys.exit(f"{parser.prog}: error: {err}")
    model.save_pretrained(args.out_dir)
    files = ", ".join(sorted(path.name for path in args.out_dir.iterdir()))
    print(f"Wrote ElePoseLifter (hidden {model.config.hidden_size}) to {args.out_dir}: {files}")


if __name__ == "__main__":
    main()
