"""BVH motion capture -> 17 joints -> random virtual cameras -> pose ``DatasetDict`` (one split).

Each file goes through ``conversion.bvh`` (parser, forward kinematics, the rig's joint map, cm -> mm, up axis ->
y up), then ``elepose_hf.data.virtual_camera_views`` views every kept frame through ``--views-per-pose`` random
ElePose-Bench cameras (elevation N(12, 6) deg, 4-6 m, focal 1145 px, principal point (500, 500)). The split
(``--split``, default ``train``) holds ``keypoints_2d``, ``intrinsics`` and ``take`` (the file name); with
``--with-3d`` also the ground truth ``keypoints_3d`` (mm, camera frame) and ``camera_elevation_deg`` (for
evaluation sets; unsupervised training splits keep 2D only).

    python conversion/convert_bvh.py FILE.bvh [FILE.bvh ...] OUT_DIR [--rig auto|bandai|cmu_iclone]
        [--views-per-pose 1] [--seed 0] [--frame-step 1] [--up-axis y|z] [--split train] [--with-3d]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import datasets
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversion._common import run_cli  # noqa: E402
from conversion.bvh import RIGS, read_bvh, to_h36m17  # noqa: E402
from elepose_hf.data import THREE_D_COLUMNS, dataset_from_arrays, virtual_camera_views  # noqa: E402


def bvh_positions(paths: Sequence, rig: str = "auto", up_axis: str | None = None, frame_step: int = 1) -> dict:
    """``positions`` (N, 17, 3) mm y up of every ``frame_step``-th frame of each file, and ``take`` (N,)."""
    positions, takes = [], []
    for path in paths:
        motion = read_bvh(path)  # its errors name the file
        try:
            joints = to_h36m17(motion, rig, up_axis)[::frame_step]  # (F', 17, 3)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
        positions.append(joints)
        takes.append(np.full(len(joints), Path(path).stem))
    if not positions:
        raise ValueError("no BVH file given")
    return {"positions": np.concatenate(positions), "take": np.concatenate(takes)}


def convert_bvh(
    paths: Sequence,
    rig: str = "auto",
    views_per_pose: int = 1,
    seed: int = 0,
    frame_step: int = 1,
    up_axis: str | None = None,
    split: str = "train",
    with_3d: bool = False,
) -> datasets.DatasetDict:
    """BVH files -> ``DatasetDict({split: Dataset})`` of ``views_per_pose`` random virtual-camera views per kept
    frame (views of one frame adjacent); ground-truth 3D columns only ``with_3d``."""
    if views_per_pose < 1 or frame_step < 1:
        raise ValueError(f"views_per_pose and frame_step must be >= 1, got {views_per_pose} and {frame_step}")
    mocap = bvh_positions(paths, rig, up_axis, frame_step)
    rows = np.repeat(np.arange(len(mocap["positions"])), views_per_pose)
    views = virtual_camera_views(mocap["positions"][rows], np.random.default_rng(seed))
    names = ["keypoints_2d", "intrinsics", *(THREE_D_COLUMNS if with_3d else ())]
    return datasets.DatasetDict(
        {split: dataset_from_arrays(**{name: views[name] for name in names}, take=mocap["take"][rows])}
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", type=Path, nargs="+", help="one or more .bvh files")
    parser.add_argument("output_dir", type=Path, help="where to save_to_disk the DatasetDict")
    parser.add_argument("--rig", default="auto", choices=["auto", *RIGS], help="joint map (default: by joint names)")
    parser.add_argument("--views-per-pose", type=int, default=1, help="random cameras per frame (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="camera sampling seed (default 0)")
    parser.add_argument("--frame-step", type=int, default=1, help="keep every N-th frame (e.g. 2 for 60 -> 30 fps)")
    parser.add_argument("--up-axis", choices=["y", "z"], help="the file's up axis after forward kinematics (rig's)")
    parser.add_argument("--split", default="train", help="split name (default train)")
    parser.add_argument("--with-3d", action="store_true", help="keep keypoints_3d and camera_elevation_deg")
    return run_cli(
        parser,
        lambda args: convert_bvh(
            args.inputs,
            args.rig,
            args.views_per_pose,
            args.seed,
            args.frame_step,
            args.up_axis,
            args.split,
            args.with_3d,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
