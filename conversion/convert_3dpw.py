"""3DPW (``sequenceFiles/{train,validation,test}/*.pkl``) -> pose ``DatasetDict`` with one split per folder.

Each sequence file is a Python 2 pickle, read with a restricted unpickler (NumPy arrays and containers only;
anything else raises ``pickle.UnpicklingError`` naming the forbidden global). Keys used: ``jointPositions``
(per actor (F, 72): 24 SMPL joints x 3, world frame, metres), ``cam_poses`` (F, 4, 4) world -> camera,
``cam_intrinsics`` (3, 3), ``campose_valid`` (per actor (F,)) and ``sequence``. One row per valid (actor, frame):
the joints in the camera frame (mm; x right, y down, z forward) and reprojected to 2D with the sequence's camera,
as the ElePose paper did. ``train`` keeps 2D only (with intrinsics, take, activity); ``validation`` and ``test``
also hold ``keypoints_3d`` and ``camera_elevation_deg``.

SMPL joints -> this library's 17 (SMPL: 0 pelvis, 1/2 l/r hip, 4/5 knees, 7/8 ankles, 6 spine2, 12 neck, 15 head,
16/17 shoulders, 18/19 elbows, 20/21 wrists):

  hip = pelvis (0); hips, knees, ankles, shoulders, elbows, wrists = the same-named SMPL joints.
  spine = spine2 (6): it lies at about half the pelvis-to-neck length, like Human3.6M's spine.
  thorax = neck (12): the base of the neck, between the shoulders.
  neck_nose = head (15): the SMPL head joint sits in the head at about jaw-to-nose height.
  head = head + (head - neck): SMPL has no head-top joint; extending the neck->head segment once places it above
  the skull, and makes thorax->neck_nose and neck_nose->head equally long, as in Human3.6M (bone-length prior).

Elevation: 3DPW's documentation does not state which world axis is up. With ``world_up="auto"`` (default) it is
estimated per sequence as the mean direction from the ankles to the neck of the valid poses, snapped to the
nearest world axis (the world frame of the IMU-based capture is gravity-aligned); the choice is logged, with a
warning when the estimate is more than 20 deg off that axis. Pass e.g. ``"+y"`` to set it.

    python conversion/convert_3dpw.py 3DPW_DIR OUT_DIR [--world-up auto|+x|-x|+y|-y|+z|-z]
"""

from __future__ import annotations

import argparse
import logging
import pickle
import sys
from pathlib import Path

import datasets
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversion._common import (  # noqa: E402
    ForbiddenGlobalError,
    concatenated_dataset,
    elevation_deg,
    project,
    restricted_load,
    run_cli,
)
from elepose_hf.data import THREE_D_COLUMNS  # noqa: E402

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
REQUIRED_KEYS = ("jointPositions", "cam_poses", "cam_intrinsics", "campose_valid", "sequence")
# SMPL joints taken as they are, indexed by this library's joints; head (10) is derived (see the module docstring).
SMPL24_TO_OURS = (0, 2, 5, 8, 1, 4, 7, 6, 12, 15, 15, 16, 18, 20, 17, 19, 21)
SMPL_NECK, SMPL_HEAD, HEAD_TOP = 12, 15, 10
AXES = {f"{sign}{axis}": (1.0 if sign == "+" else -1.0) * np.eye(3)[i] for i, axis in enumerate("xyz") for sign in "+-"}


def smpl24_to_h36m17(joints: np.ndarray) -> np.ndarray:
    """SMPL joints (..., 24, 3) -> the 17 joints (..., 17, 3) (mapping in the module docstring)."""
    out = joints[..., SMPL24_TO_OURS, :].copy()
    out[..., HEAD_TOP, :] = 2.0 * joints[..., SMPL_HEAD, :] - joints[..., SMPL_NECK, :]
    return out


def load_sequence(path: Path) -> dict:
    """A 3DPW sequence pickle through the restricted unpickler; ``ValueError`` names a missing key."""
    with open(path, "rb") as file:
        try:
            data = restricted_load(file, encoding="latin1")
        except ForbiddenGlobalError:
            raise
        except (EOFError, ValueError, TypeError, pickle.UnpicklingError) as err:
            raise ValueError(f"{path}: cannot be read as a 3DPW sequence pickle ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a 3DPW sequence file holds a dict, got {type(data).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing} of the 3DPW layout; keys present: {sorted(data)}")
    return data


def estimate_world_up(world_poses: np.ndarray) -> tuple[str, float]:
    """Nearest world axis to the mean ankles -> thorax direction of poses (N, 17, 3), and the angle to it (deg)."""
    direction = world_poses[:, 8] - world_poses[:, [3, 6]].mean(axis=1)  # (N, 3)
    mean = (direction / np.linalg.norm(direction, axis=-1, keepdims=True)).mean(axis=0)
    mean /= np.linalg.norm(mean)
    name = max(AXES, key=lambda axis: float(AXES[axis] @ mean))
    return name, float(np.degrees(np.arccos(np.clip(AXES[name] @ mean, -1.0, 1.0))))


def convert_sequence(data: dict, world_up: str = "auto", source: str = "") -> dict[str, np.ndarray]:
    """One loaded sequence -> schema columns of its valid (actor, frame) rows (actor-major)."""
    if world_up != "auto" and world_up not in AXES:
        raise ValueError(f"world_up must be 'auto' or one of {list(AXES)}, got {world_up!r}")
    poses_ext = np.asarray(data["cam_poses"], dtype=np.float64)  # (F, 4, 4) world -> camera
    intrinsics_matrix = np.asarray(data["cam_intrinsics"], dtype=np.float64)
    if poses_ext.ndim != 3 or poses_ext.shape[1:] != (4, 4) or intrinsics_matrix.shape != (3, 3):
        raise ValueError(
            f"{source}: cam_poses must be (F, 4, 4) and cam_intrinsics (3, 3), got "
            f"{poses_ext.shape} and {intrinsics_matrix.shape}"
        )
    actors, valids = data["jointPositions"], data["campose_valid"]
    if not len(actors) or len(actors) != len(valids):
        raise ValueError(f"{source}: {len(actors)} actors in jointPositions and {len(valids)} in campose_valid")
    frames = len(poses_ext)
    world, frame_of_row, actor_of_row = [], [], []
    for actor, (joints, valid) in enumerate(zip(actors, valids, strict=True)):
        joints, valid = np.asarray(joints, dtype=np.float64), np.asarray(valid).reshape(-1) > 0
        if joints.shape != (frames, 72) or valid.shape != (frames,):
            raise ValueError(
                f"{source}: actor {actor}: jointPositions must be ({frames}, 72) and campose_valid "
                f"({frames},), got {joints.shape} and {valid.shape}"
            )
        world.append(smpl24_to_h36m17(joints[valid].reshape(-1, 24, 3)))  # (V, 17, 3) metres
        frame_of_row.append(np.flatnonzero(valid))
        actor_of_row.append(np.full(int(valid.sum()), actor))
    world_m, frame_of_row, actor_of_row = (np.concatenate(x) for x in (world, frame_of_row, actor_of_row))

    rotation, translation = poses_ext[frame_of_row, :3, :3], poses_ext[frame_of_row, :3, 3]  # (N, 3, 3), (N, 3)
    camera_mm = 1000.0 * (np.einsum("nij,nkj->nki", rotation, world_m) + translation[:, None])  # (N, 17, 3)
    intrinsics = np.broadcast_to(intrinsics_matrix[[0, 1, 0, 1], [0, 1, 2, 2]], (len(camera_mm), 4))  # fx fy cx cy
    if world_up == "auto":
        world_up, off_deg = estimate_world_up(world_m) if len(world_m) else ("+y", 0.0)
        log = logger.warning if off_deg > 20.0 else logger.info
        log("%s: world up estimated as %s (mean body axis %.1f deg from it)", source, world_up, off_deg)
    sequence = str(data["sequence"])
    activity = sequence.rsplit("_", 1)[0].split("_", 1)[-1]  # "downtown_walkUphill_00" -> "walkUphill"
    return {
        "keypoints_2d": project(camera_mm, intrinsics),
        "keypoints_3d": camera_mm,
        "camera_elevation_deg": elevation_deg(rotation, AXES[world_up]),
        "intrinsics": intrinsics,
        "take": np.char.add(f"{sequence}/actor", actor_of_row.astype(str)),
        "activity": np.full(len(camera_mm), activity),
    }


def convert_3dpw(root, world_up: str = "auto") -> datasets.DatasetDict:
    """3DPW folder (holding ``sequenceFiles/``, or that folder itself) -> ``DatasetDict`` with the splits found."""
    root = Path(root)
    base = root / "sequenceFiles" if (root / "sequenceFiles").is_dir() else root
    splits = {}
    for split in SPLITS:
        files = sorted((base / split).glob("*.pkl"))
        parts = [convert_sequence(load_sequence(path), world_up, str(path)) for path in files]
        parts = [part for part in parts if len(part["keypoints_2d"])]
        if not parts:
            continue
        names = [name for name in parts[0] if not (split == "train" and name in THREE_D_COLUMNS)]
        splits[split] = concatenated_dataset(parts, names)
    if not splits:
        raise ValueError(f"{base}: no valid poses in {'/'.join(SPLITS)}/*.pkl (expected 3DPW's sequenceFiles folder)")
    return datasets.DatasetDict(splits)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input_dir", type=Path, help="the 3DPW folder (with sequenceFiles/) or sequenceFiles itself")
    parser.add_argument("output_dir", type=Path, help="where to save_to_disk the DatasetDict")
    parser.add_argument("--world-up", default="auto", choices=["auto", *AXES], help="world up axis (default: auto)")
    return run_cli(parser, lambda args: convert_3dpw(args.input_dir, args.world_up))


if __name__ == "__main__":
    sys.exit(main())
