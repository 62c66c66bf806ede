"""MPI-INF-3DHP test set (``TS1`` ... ``TS6``) -> pose ``DatasetDict`` with one ``test`` split.

Input: the test-set folder holding ``TS<k>/annot_data.mat``, in MATLAB v5 (read with scipy) or v7.3 / HDF5 (read
with h5py; HDF5 stores MATLAB arrays with their axes reversed, so v5 arrays are reversed to match). Fields used:
``annot2`` (F, 1, 17, 2) pixels, ``annot3`` (F, 1, 17, 3) mm in the camera frame (x right, y down, z forward),
``univ_annot3`` (same, with ``universal=True``), ``valid_frame`` (F,), ``activity_annotation`` (F,); only valid
frames are kept.

Joint mapping (3DHP's 17 test joints -> this library's order), the usual one for Human3.6M-trained models:

  ours         3DHP test joint   why
  hip          14 pelvis         the root of both skeletons
  spine         15 spine          mid-torso in both
  thorax        1 neck            3DHP's neck is at the base of the neck, between the shoulders: Human3.6M's thorax
  neck_nose    16 head            3DHP's "head" is the head centre, at about nose height: Human3.6M's neck/nose
  head          0 head_top        Human3.6M's head joint is the top of the head
  limbs        2-13               same names (3DHP's right/left are the subject's, as in Human3.6M)

Intrinsics are the published calibration of the test cameras (3DHP's test-set documentation): TS1-TS4 studio
camera, 10 x 10 mm sensor, 2048 x 2048 px, focal 7.32506 mm, principal-point offset (-0.0322884, 0.0929296) mm;
TS5-TS6 outdoor camera, 10 x 5.625 mm sensor, 1920 x 1080 px, focal 8.770747185 mm, offset (-0.104908645,
0.104899704) mm; converted to pixels as ``f * px_per_mm`` and ``size / 2 + offset * px_per_mm``. The camera's
orientation to gravity is not published, so ``camera_elevation_deg`` is omitted (estimating it from the torso
would bias it by how much people lean, sit or lie).

    python conversion/convert_3dhp.py MPI_INF_3DHP_TEST_SET_DIR OUT_DIR [--universal]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import datasets
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversion._common import concatenated_dataset, project, run_cli  # noqa: E402

logger = logging.getLogger(__name__)

SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
# 3DHP test joints: 0 head_top, 1 neck, 2 rshoulder, 3 relbow, 4 rwrist, 5 lshoulder, 6 lelbow, 7 lwrist, 8 rhip,
# 9 rknee, 10 rankle, 11 lhip, 12 lknee, 13 lankle, 14 pelvis, 15 spine, 16 head. Indexed by this library's joints:
THREEDHP_TO_OURS = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
ACTIVITIES = {
    1: "standing_walking",
    2: "exercising",
    3: "sitting",
    4: "reaching_crouching",
    5: "on_the_floor",
    6: "sports",
    7: "miscellaneous",
}


def _intrinsics(focal_mm: float, offset_mm: tuple[float, float], sensor_mm: tuple[float, float], size_px) -> tuple:
    px_per_mm = np.asarray(size_px) / np.asarray(sensor_mm)  # (2,)
    center = np.asarray(size_px) / 2 + np.asarray(offset_mm) * px_per_mm
    return (*(focal_mm * px_per_mm), *center)


_STUDIO = _intrinsics(7.32506, (-0.0322884, 0.0929296), (10.0, 10.0), (2048, 2048))
_OUTDOOR = _intrinsics(8.770747185, (-0.104908645, 0.104899704), (10.0, 5.625), (1920, 1080))
# [fx, fy, cx, cy] pixels per test sequence.
INTRINSICS: dict[str, np.ndarray] = {seq: np.array(_OUTDOOR if seq in ("TS5", "TS6") else _STUDIO) for seq in SEQUENCES}


def read_annotations(path: Path, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``fields`` of a MATLAB ``annot_data.mat`` as arrays in HDF5 axis order (MATLAB's reversed): v5 files are read
    with scipy, v7.3 (HDF5) files with h5py."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
        present = [key for key in mat if not key.startswith("__")]
        arrays = {field: np.asarray(mat[field]).transpose() for field in fields if field in mat}
    except NotImplementedError:  # scipy's answer to a v7.3 file
        import h5py

        with h5py.File(path, "r") as mat:
            present = list(mat)
            arrays = {field: np.asarray(mat[field]) for field in fields if field in mat}
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: cannot be read as a MATLAB .mat file ({err})") from err
    missing = [field for field in fields if field not in arrays]
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing} of the 3DHP test layout; fields present: {present}")
    return arrays


def _frames_joints(array: np.ndarray, frames: int, dims: int, name: str, path: Path) -> np.ndarray:
    """(F, 1, 17, dims) (or MATLAB's (dims, 17, 1, F)) -> (F, 17, dims) float64."""
    if array.size == frames * 17 * dims:
        if array.shape[0] == frames and array.shape[-2:] == (17, dims):
            return array.reshape(frames, 17, dims).astype(np.float64)
        if array.shape[0] == dims and array.shape[-1] == frames:
            return array.reshape(dims, 17, frames).transpose(2, 1, 0).astype(np.float64)
    raise ValueError(f"{path}: field {name!r} has shape {array.shape}, expected ({frames}, 1, 17, {dims})")


def convert_3dhp(test_set_dir, universal: bool = False) -> datasets.DatasetDict:
    """The valid frames of every ``TS<k>/annot_data.mat`` under ``test_set_dir`` -> ``{"test": Dataset}`` with
    ``keypoints_2d`` (annot2), ``keypoints_3d`` (annot3 mm, or univ_annot3 with ``universal``), ``intrinsics``,
    ``take`` (the sequence) and ``activity``. Logs the reprojection error of the 3D against the 2D."""
    test_set_dir = Path(test_set_dir)
    found = [seq for seq in SEQUENCES if (test_set_dir / seq / "annot_data.mat").is_file()]
    if not found:
        raise ValueError(f"{test_set_dir}: no TS1..TS6/annot_data.mat (expected the MPI-INF-3DHP test-set folder)")
    key_3d = "univ_annot3" if universal else "annot3"
    parts = []
    for seq in found:
        path = test_set_dir / seq / "annot_data.mat"
        mat = read_annotations(path, ("annot2", key_3d, "valid_frame", "activity_annotation"))
        valid = mat["valid_frame"].reshape(-1) > 0  # (F,)
        frames = len(valid)
        kp2 = _frames_joints(mat["annot2"], frames, 2, "annot2", path)[valid][:, THREEDHP_TO_OURS]  # (V, 17, 2)
        kp3 = _frames_joints(mat[key_3d], frames, 3, key_3d, path)[valid][:, THREEDHP_TO_OURS]  # (V, 17, 3)
        codes = mat["activity_annotation"].reshape(-1)
        if len(codes) != frames:
            raise ValueError(f"{path}: activity_annotation has {len(codes)} frames, valid_frame {frames}")
        error = np.linalg.norm(project(kp3, INTRINSICS[seq]) - kp2, axis=-1)
        logger.info(
            "%s: %d of %d frames valid; median reprojection error %.2f px",
            seq,
            len(kp2),
            frames,
            float(np.median(error)) if error.size else float("nan"),
        )
        activity = np.array([ACTIVITIES.get(int(c), str(int(c))) for c in codes[valid]], dtype=str)
        parts.append(
            {
                "keypoints_2d": kp2,
                "keypoints_3d": kp3,
                "intrinsics": np.broadcast_to(INTRINSICS[seq], (len(kp2), 4)),
                "take": np.full(len(kp2), seq),
                "activity": activity,
            }
        )
    return datasets.DatasetDict({"test": concatenated_dataset(parts)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input_dir", type=Path, help="the mpi_inf_3dhp_test_set folder (with TS1 ... TS6)")
    parser.add_argument("output_dir", type=Path, help="where to save_to_disk the DatasetDict")
    parser.add_argument("--universal", action="store_true", help="3D from univ_annot3 instead of annot3")
    return run_cli(parser, lambda args: convert_3dhp(args.input_dir, args.universal))


if __name__ == "__main__":
    sys.exit(main())
