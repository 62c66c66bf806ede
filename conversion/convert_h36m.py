"""Human3.6M in the VideoPose3D layout -> pose ``DatasetDict`` (``train``: S1, S5, S6, S7, S8 in 2D; ``test``: S9, S11
every 64th frame with camera-frame 3D, elevation and intrinsics).

Input folder (VideoPose3D's ``data/``):

- ``data_3d_h36m.npz``: ``positions_3d[subject][action] -> (F, 32, 3)`` metres, world frame (z up).
- ``data_2d_h36m_<keypoints>.npz`` (``gt``, ``cpn_ft_h36m_dbb``, ...): ``positions_2d[subject][action][camera]
  -> (F, 17, 2)`` pixels in the 17-joint order, and ``metadata``.

Both hold pickled dicts; they are read with a restricted unpickler (NumPy arrays and containers only), never with
``np.load(..., allow_pickle=True)``. The 32 mocap joints are reduced to VideoPose3D's 17, which are this library's
order. World -> camera as VideoPose3D's ``world_to_camera``: ``X_cam = R^T (X_world - t)``, ``R`` the camera
orientation quaternion as a matrix, ``t`` its position (mm, converted to metres); output in mm.

    python conversion/convert_h36m.py VIDEOPOSE3D_DATA_DIR OUT_DIR [--keypoints gt] [--test-stride 64]
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

from conversion._common import concatenated_dataset, elevation_deg, read_npz_member, run_cli  # noqa: E402

logger = logging.getLogger(__name__)

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
# VideoPose3D keeps these 17 of the 32 mocap joints (it removes the static and duplicate ones); in this order they
# are hip, rhip, rknee, rfoot, lhip, lknee, lfoot, spine, thorax, neck/nose, head, lshoulder, lelbow, lwrist,
# rshoulder, relbow, rwrist: this library's joint order.
H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
WORLD_UP = (0.0, 0.0, 1.0)  # Human3.6M's world frame has z up (the floor is z = 0)
# VideoPose3D's action names differ between subjects for two activities.
_ACTIVITY_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}

# Public Human3.6M camera calibration, as published in VideoPose3D's common/h36m_dataset.py
# (h36m_cameras_intrinsic_params / h36m_cameras_extrinsic_params).
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
# [fx, fy, cx, cy] pixels, per camera index (the same four cameras for every subject); lens distortion is ignored.
INTRINSICS = np.array(
    [
        [1145.0494384765625, 1143.7811279296875, 512.54150390625, 515.4514770507812],
        [1149.6756591796875, 1147.5916748046875, 508.8486328125, 508.0649108886719],
        [1149.1407470703125, 1148.7989501953125, 519.8158569335938, 501.40264892578125],
        [1145.5113525390625, 1144.77392578125, 514.9682006835938, 501.88201904296875],
    ]
)
# subject -> per camera index: orientation quaternion (w, x, y, z) camera -> world, position in mm (world frame).
EXTRINSICS: dict[str, tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]] = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}  # fmt: skip


def quaternion_to_matrix(quaternion) -> np.ndarray:
    """Rotation matrix (3, 3) of a quaternion (w, x, y, z) (normalized first)."""
    w, x, y, z = np.asarray(quaternion, dtype=np.float64) / np.linalg.norm(quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def world_to_camera(positions_m: np.ndarray, subject: str, camera: int) -> np.ndarray:
    """World positions (F, J, 3) in metres -> camera frame (x right, y down, z forward) in mm."""
    orientation, position_mm = EXTRINSICS[subject][camera]
    rotation = quaternion_to_matrix(orientation)  # camera -> world
    return 1000.0 * (positions_m - np.asarray(position_mm) / 1000.0) @ rotation  # R^T (X - t), row vectors


def camera_elevation_deg(subject: str, camera: int) -> float:
    """Elevation of a Human3.6M camera (positive when it looks down), from its rotation and the world's z up."""
    rotation = quaternion_to_matrix(EXTRINSICS[subject][camera][0])
    return float(elevation_deg(rotation.T, WORLD_UP))


def _check_layout(positions_2d, positions_3d, path_2d: Path, path_3d: Path) -> None:
    for name, value, path in (("positions_2d", positions_2d, path_2d), ("positions_3d", positions_3d, path_3d)):
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ValueError(f"{path}: {name!r} must be a dict subject -> action -> poses, got {type(value).__name__}")
    for subject, actions in positions_3d.items():
        for action, poses in actions.items():
            if not isinstance(poses, np.ndarray) or poses.ndim != 3 or poses.shape[1:] != (32, 3):
                shape = getattr(poses, "shape", type(poses).__name__)
                raise ValueError(f"{path_3d}: positions_3d[{subject!r}][{action!r}] must be (F, 32, 3), got {shape}")
    for subject, actions in positions_2d.items():
        for action, cameras in actions.items():
            shapes = [getattr(c, "shape", type(c).__name__) for c in cameras]
            if len(cameras) != len(CAMERA_IDS) or any(s[1:] != (17, 2) or len(s) != 3 for s in shapes):
                raise ValueError(
                    f"{path_2d}: positions_2d[{subject!r}][{action!r}] must hold {len(CAMERA_IDS)} arrays "
                    f"(F, 17, 2), got {shapes}"
                )


def _sequence_columns(
    subject: str, action: str, cameras: list, positions_3d: dict, stride: int, with_3d: bool
) -> list[dict[str, np.ndarray]]:
    """Schema columns of every ``stride``-th frame of one sequence, one dict per camera."""
    mocap = positions_3d.get(subject, {}).get(action)  # (F, 32, 3) metres, or None
    if with_3d and mocap is None:
        raise ValueError(f"positions_3d has no {subject!r} {action!r} (needed for 3D ground truth)")
    activity = action.split(" ")[0]
    activity = _ACTIVITY_ALIASES.get(activity, activity)
    parts = []
    for camera, kp2 in enumerate(cameras):
        frames = slice(0, len(kp2) if mocap is None else min(len(kp2), len(mocap)), stride)
        n = len(kp2[frames])
        part = {
            "keypoints_2d": kp2[frames],  # (n, 17, 2)
            "intrinsics": np.broadcast_to(INTRINSICS[camera], (n, 4)),
            "take": np.full(n, f"{subject}/{action}/{CAMERA_IDS[camera]}"),
            "activity": np.full(n, activity),
        }
        if with_3d:
            part["keypoints_3d"] = world_to_camera(mocap[frames][:, H36M32_TO_17], subject, camera)
            part["camera_elevation_deg"] = np.full(n, camera_elevation_deg(subject, camera))
        parts.append(part)
    return parts


def convert_h36m(data_dir, keypoints: str = "gt", test_stride: int = 64) -> datasets.DatasetDict:
    """Human3.6M (VideoPose3D files in ``data_dir``) -> ``DatasetDict`` with ``train`` and/or ``test``.

    ``train`` (S1, S5, S6, S7, S8, every frame): ``keypoints_2d``, ``intrinsics``, ``take``, ``activity``.
    ``test`` (S9, S11, every ``test_stride``-th frame of each sequence and camera): the same plus
    ``keypoints_3d`` (mm, camera frame) and ``camera_elevation_deg``. ``keypoints`` picks the 2D file
    (``data_2d_h36m_<keypoints>.npz``). 2D sequences longer than their mocap are cut to it (as VideoPose3D does).
    ``take`` is ``subject/action/camera id``; ``activity`` the action without its take number.
    """
    data_dir = Path(data_dir)
    path_3d, path_2d = data_dir / "data_3d_h36m.npz", data_dir / f"data_2d_h36m_{keypoints}.npz"
    for path in (path_3d, path_2d):
        if not path.is_file():
            raise ValueError(f"{path}: no such file (expected VideoPose3D's Human3.6M files in {data_dir})")
    positions_3d = read_npz_member(path_3d, "positions_3d")
    positions_2d = read_npz_member(path_2d, "positions_2d")
    metadata = read_npz_member(path_2d, "metadata")
    layout = (metadata.get("layout_name"), metadata.get("num_joints")) if isinstance(metadata, dict) else None
    if layout != ("h36m", 17):
        raise ValueError(
            f"{path_2d}: metadata layout {layout} is not VideoPose3D's ('h36m', 17) (a 'coco' layout holds COCO "
            "keypoints: map them with elepose_hf.skeleton.to_h36m17)"
        )
    _check_layout(positions_2d, positions_3d, path_2d, path_3d)

    splits = {}
    for split, subjects in (("train", TRAIN_SUBJECTS), ("test", TEST_SUBJECTS)):
        with_3d = split == "test"
        missing = [s for s in subjects if s not in positions_2d or (with_3d and s not in positions_3d)]
        if missing:
            logger.warning("%s: subjects %s absent from the files: left out of %r", data_dir, missing, split)
        parts = [
            part
            for subject in subjects
            if subject not in missing
            for action, cameras in positions_2d[subject].items()
            for part in _sequence_columns(
                subject, action, cameras, positions_3d, test_stride if with_3d else 1, with_3d
            )
        ]
        if parts:
            splits[split] = concatenated_dataset(parts)
    if not splits:
        raise ValueError(f"{path_2d}: no Human3.6M subject of {TRAIN_SUBJECTS + TEST_SUBJECTS} found")
    return datasets.DatasetDict(splits)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input_dir", type=Path, help="folder with data_3d_h36m.npz and data_2d_h36m_<keypoints>.npz")
    parser.add_argument("output_dir", type=Path, help="where to save_to_disk the DatasetDict")
    parser.add_argument("--keypoints", default="gt", help="2D file suffix: gt (default), cpn_ft_h36m_dbb, ...")
    parser.add_argument("--test-stride", type=int, default=64, help="keep every N-th test frame (default 64)")
    return run_cli(parser, lambda args: convert_h36m(args.input_dir, args.keypoints, args.test_stride))


if __name__ == "__main__":
    sys.exit(main())
