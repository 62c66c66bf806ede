"""Convert the ElePose authors' released normalizing flow (a FrEIA ``SequenceINN`` state_dict) to a ``PoseFlowPrior``.

The authors' flow models the 26 PCA coefficients of normalized Human3.6M 2D poses, but they never released that
PCA basis: supply one with ``--pca``, either in the authors' layout (``.npz`` with ``mean`` and ``components``)
or as a pose dataset to fit it on. The joint reordering (their arms are swapped) and their coordinate layout
(all u, then all v) are folded into the stored PCA, so the converted model takes poses in this library's order.

    python conversion/convert_official_flow.py OFFICIAL.pt OUT_DIR --pca PCA_SOURCE
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversion._checkpoint import (  # noqa: E402
    H36M_NORMALIZATION_SCALE,
    StateDictSource,
    authors_index,
    check_keys,
    load_state_dict,
)
from elepose_hf import PoseFlowConfig, PoseFlowPrior  # noqa: E402
from elepose_hf.skeleton import NUM_JOINTS  # noqa: E402

NO_PCA_MESSAGE = (
    "the authors never released the PCA basis their flow was trained on, and the flow is meaningless without "
    "it (it models PCA coefficients of normalized 2D poses, not the poses themselves). Supply one with --pca: "
    "an .npz with 'mean' (34,) and 'components' (k >= 26, 34) as scikit-learn's PCA gives them in the authors' "
    "layout (their joint order, all u then all v), or a pose dataset that elepose_hf.data.load_poses reads "
    "(a save_to_disk folder, an ElePose-Bench or mocap .npz, a COCO .json, or 'default') to fit one on; "
    "the flow was trained on Human3.6M 2D poses, so the closer the data is to those, the better"
)
_BLOCK_INDEX = re.compile(r"module_list\.(\d+)\.")


def _require(state: Mapping[str, torch.Tensor], key: str, ndim: int) -> torch.Tensor:
    """``state[key]``, or a ``ValueError`` naming the key if it is absent or not ``ndim``-dimensional."""
    if key not in state:
        raise ValueError(f"not the authors' flow layout: missing key {key!r}")
    if state[key].ndim != ndim:
        raise ValueError(f"not the authors' flow layout: {key!r} has shape {tuple(state[key].shape)}, expected {ndim}D")
    return state[key]


def _flow_without_pca(source: StateDictSource, normalization_scale: float) -> PoseFlowPrior:
    """The flow with the authors' coupling blocks loaded; its PCA is still the identity."""
    state = load_state_dict(source)
    indices = {int(match.group(1)) for key in state if (match := _BLOCK_INDEX.match(key))}
    if not indices:
        raise ValueError(f"not the authors' flow layout: no 'module_list.<i>.' keys; keys: {sorted(state)[:8]}")
    size = _require(state, "module_list.0.global_scale", 2).shape[1]
    hidden = _require(state, "module_list.0.subnet.0.weight", 2).shape[0]
    config = PoseFlowConfig(
        num_joints=NUM_JOINTS,
        num_pca_components=size,
        whiten=False,
        num_blocks=max(indices) + 1,
        hidden_size=hidden,
        clamp=2.0,
        clamp_mode="unscaled",
        normalization="dataset",
        normalization_scale=normalization_scale,
        normalized_head_length=0.1,
    )
    model = PoseFlowPrior(config)
    ours = model.state_dict()
    expected = {f"module_list.{key.removeprefix('blocks.')}": ours[key] for key in ours if key.startswith("blocks.")}
    check_keys(state, expected, "authors' flow (FrEIA SequenceINN of AllInOneBlocks)")
    blocks = {f"blocks.{key.removeprefix('module_list.')}": value for key, value in state.items()}
    model.load_state_dict({**ours, **blocks}, strict=True)
    return model.eval()


def convert_official_flow(
    state_dict_or_path: StateDictSource,
    pca_mean: np.ndarray | torch.Tensor | None,
    pca_components: np.ndarray | torch.Tensor | None,
    pca_explained_variance: np.ndarray | torch.Tensor | None = None,
    normalization_scale: float = H36M_NORMALIZATION_SCALE,
) -> PoseFlowPrior:
    """The authors' flow as a ``PoseFlowPrior`` with a PCA given in the authors' layout.

    ``pca_mean`` ``(34,)`` and ``pca_components`` ``(k >= 26, 34)`` index the flat pose as ``c * 17 + j_auth``
    (authors' joint order, all u then all v), as scikit-learn's ``PCA.mean_`` / ``components_`` fitted on their
    poses; the first 26 components are used. ``pca_explained_variance`` (``PCA.explained_variance_``) gives the
    coefficient spread the pipeline's pose completion relies on (``pca_std``; 1 when absent). Raises
    ``ValueError`` without a PCA or for a wrong layout.
    """
    if pca_mean is None or pca_components is None:
        raise ValueError(NO_PCA_MESSAGE)
    mean = torch.as_tensor(np.asarray(pca_mean), dtype=torch.float64)
    components = torch.as_tensor(np.asarray(pca_components), dtype=torch.float64)
    coords = 2 * NUM_JOINTS
    if mean.shape != (coords,):
        raise ValueError(f"PCA mean must have shape ({coords},), got {tuple(mean.shape)}")
    model = _flow_without_pca(state_dict_or_path, normalization_scale)
    size = model.config.latent_size
    if components.ndim != 2 or components.shape[0] < size or components.shape[1] != coords:
        raise ValueError(f"PCA components must have shape (k >= {size}, {coords}), got {tuple(components.shape)}")
    if not (torch.isfinite(mean).all() and torch.isfinite(components[:size]).all()):
        raise ValueError("PCA mean or components hold NaN or infinite values")
    index = authors_index()
    model.pca_mean.copy_(mean[index])
    model.pca_components.copy_(components[:size, index])
    if pca_explained_variance is not None:
        model.pca_std.copy_(torch.as_tensor(np.asarray(pca_explained_variance))[:size].sqrt())
    return model


def convert_official_flow_fitting_pca(
    state_dict_or_path: StateDictSource,
    keypoints_2d: np.ndarray | torch.Tensor,
    normalization_scale: float = H36M_NORMALIZATION_SCALE,
) -> PoseFlowPrior:
    """The authors' flow as a ``PoseFlowPrior`` with a PCA fitted on pixel poses ``(N, 17, 2)`` in this library's
    order, normalized as the model normalizes its inputs."""
    model = _flow_without_pca(state_dict_or_path, normalization_scale)
    model.fit_pca(model.normalize(torch.as_tensor(np.asarray(keypoints_2d), dtype=torch.float32)))
    return model


def read_authors_pca(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """``(mean, components, explained_variance or None)`` of an authors'-layout PCA ``.npz``, or None if ``path``
    is no such file."""
    if Path(path).suffix.lower() != ".npz" or not Path(path).is_file():
        return None
    with np.load(path) as npz:
        if "components" not in npz.files:
            return None
        if "mean" not in npz.files:
            raise ValueError(f"{path}: PCA .npz has 'components' but no 'mean'; keys: {npz.files}")
        variance = npz["explained_variance"] if "explained_variance" in npz.files else None
        return npz["mean"], npz["components"], variance


def complete_poses(source: str, split: str | None = None) -> np.ndarray:
    """Pixel poses ``(N, 17, 2)`` of a pose dataset (``elepose_hf.data.load_poses``) with every joint present."""
    from elepose_hf.data import load_poses, pose_arrays

    dataset = load_poses(source, split=split)
    columns = ["keypoints_2d"] + (["confidence"] if "confidence" in dataset.column_names else [])
    arrays = pose_arrays(dataset, columns)
    keypoints = arrays["keypoints_2d"]
    complete = np.isfinite(keypoints).all(axis=(1, 2))
    if "confidence" in arrays:
        complete &= (arrays["confidence"] > 0).all(axis=1)
    if not complete.any():
        raise ValueError(f"{source}: no pose has all {NUM_JOINTS} joints to fit the PCA on")
    return keypoints[complete]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("official", type=Path, help="the authors' flow state_dict (.pt)")
    parser.add_argument("out_dir", type=Path, help="folder to save the PoseFlowPrior in (save_pretrained)")
    parser.add_argument(
        "--pca",
        help="authors'-layout PCA .npz ('mean' (34,), 'components' (k>=26, 34)) or a pose dataset to fit one on",
    )
    parser.add_argument("--pca-split", help="split of a pose dataset with several splits (default: 'train')")
    parser.add_argument(
        "--normalization-scale",
        type=float,
        default=H36M_NORMALIZATION_SCALE,
        help="dataset root-to-head distance in pixels the authors divided poses by (default: Human3.6M's)",
    )
    args = parser.parse_args(argv)
    if args.pca is None:
        sys.exit(f"{parser.prog}: error: no --pca given: {NO_PCA_MESSAGE}")
    try:
        authors_pca = read_authors_pca(args.pca)
        if authors_pca is not None:
            model = convert_official_flow(args.official, *authors_pca, normalization_scale=args.normalization_scale)
            pca_note = f"authors'-layout PCA from {args.pca}"
        else:
            poses = complete_poses(args.pca, args.pca_split)
            model = convert_official_flow_fitting_pca(args.official, poses, args.normalization_scale)
            pca_note = f"PCA fitted on {len(poses)} poses of {args.pca}"
    except (OSError, ValueError) as err:
        sys.exit(f"{parser.prog}: error: {err}")
    model.save_pretrained(args.out_dir)
    files = ", ".join(sorted(path.name for path in args.out_dir.iterdir()))
    config = model.config
    print(
        f"Wrote PoseFlowPrior ({config.num_blocks} blocks, hidden {config.hidden_size}, {config.latent_size} PCA "
        f"components; {pca_note}) to {args.out_dir}: {files}"
    )


if __name__ == "__main__":
    main()
