"""Pose datasets: one ``datasets`` schema, fast builders, ``load_poses`` for every source, and validation.

Columns (only ``keypoints_2d`` is required), per row, joints in the Human3.6M order of ``skeleton.JOINT_NAMES``:

- ``keypoints_2d`` (17, 2) float32: pixels or normalized coordinates.
- ``confidence`` (17,) float32: 0 = joint missing (its coordinates may then be NaN).
- ``keypoints_3d`` (17, 3) float32: mm in the camera frame (x right, y down, z forward).
- ``camera_elevation_deg`` float32: pitch of the optical axis below the horizon (camera above, looking down > 0).
- ``intrinsics`` (4,) float32: [fx, fy, cx, cy] in pixels.
- ``take``, ``activity`` string.

Every builder returns a ``datasets.Dataset`` built straight from Arrow buffers (255k poses in well under a
second), ready for ``save_to_disk`` / ``load_from_disk`` / ``push_to_hub``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Array2D, Features, Sequence, Value
from datasets.table import InMemoryTable, table_cast

from .skeleton import JOINT_NAMES, NUM_JOINTS, ROOT_JOINT, to_h36m17

logger = logging.getLogger(__name__)

DEFAULT_MOCAP_PATH = Path(__file__).resolve().parent / "resources" / "cmu_h36m17.npz"

POSE_FEATURES = Features(
    {
        "keypoints_2d": Array2D((NUM_JOINTS, 2), "float32"),
        "confidence": Sequence(Value("float32"), length=NUM_JOINTS),
        "keypoints_3d": Array2D((NUM_JOINTS, 3), "float32"),
        "camera_elevation_deg": Value("float32"),
        "intrinsics": Sequence(Value("float32"), length=4),
        "take": Value("string"),
        "activity": Value("string"),
    }
)
# Per-row shape of every column (() = scalar).
COLUMN_SHAPES: dict[str, tuple[int, ...]] = {
    "keypoints_2d": (NUM_JOINTS, 2),
    "confidence": (NUM_JOINTS,),
    "keypoints_3d": (NUM_JOINTS, 3),
    "camera_elevation_deg": (),
    "intrinsics": (4,),
    "take": (),
    "activity": (),
}
STRING_COLUMNS = ("take", "activity")
THREE_D_COLUMNS = ("keypoints_3d", "camera_elevation_deg")  # ground truth: never in a 2D-only training split
_UNIT_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}


def pose_features(columns: Iterable[str]) -> Features:
    """The ``POSE_FEATURES`` subset for ``columns`` (in schema order); ``keypoints_2d`` must be among them."""
    columns = set(columns)
    unknown = columns - set(POSE_FEATURES)
    if unknown:
        raise ValueError(f"unknown pose columns {sorted(unknown)}; known: {list(POSE_FEATURES)}")
    if "keypoints_2d" not in columns:
        raise ValueError(f"pose columns must include 'keypoints_2d', got {sorted(columns)}")
    return Features({name: feature for name, feature in POSE_FEATURES.items() if name in columns})


# ----------------------------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------------------------


def _arrow_array(values: np.ndarray) -> pa.Array:
    """(N, *shape) numpy -> Arrow array of N rows of nested fixed-size lists, zero-copy from one flat buffer."""
    array = pa.array(np.ascontiguousarray(values).reshape(-1))
    for dim in reversed(values.shape[1:]):
        array = pa.FixedSizeListArray.from_arrays(array, dim)
    return array


def dataset_from_arrays(
    keypoints_2d,
    confidence=None,
    keypoints_3d=None,
    camera_elevation_deg=None,
    intrinsics=None,
    take=None,
    activity=None,
) -> datasets.Dataset:
    """A pose ``Dataset`` from numpy-like arrays; None columns are left out.

    Shapes: keypoints_2d (N,17,2), confidence (N,17), keypoints_3d (N,17,3), camera_elevation_deg (N,),
    intrinsics (4,) (same for every row) or (N,4), take / activity (N,) strings or one string.
    """
    kp2 = np.asarray(keypoints_2d, dtype=np.float32)
    if kp2.ndim != 3 or kp2.shape[1:] != COLUMN_SHAPES["keypoints_2d"]:
        raise ValueError(f"keypoints_2d must have shape (N, {NUM_JOINTS}, 2), got {kp2.shape}")
    n = len(kp2)
    columns: dict[str, np.ndarray] = {"keypoints_2d": kp2}
    given = {
        "confidence": confidence,
        "keypoints_3d": keypoints_3d,
        "camera_elevation_deg": camera_elevation_deg,
        "intrinsics": intrinsics,
        "take": take,
        "activity": activity,
    }
    for name, value in given.items():
        if value is None:
            continue
        array = np.asarray(value, dtype=str if name in STRING_COLUMNS else np.float32)
        shape = COLUMN_SHAPES[name]
        if array.shape == shape:  # one value for every row
            array = np.broadcast_to(array, (n, *shape))
        if array.shape != (n, *shape):
            raise ValueError(f"{name} must have shape {(n, *shape)} (or {shape}), got {array.shape}")
        columns[name] = array
    features = pose_features(columns)
    table = pa.table({name: _arrow_array(columns[name]) for name in features})
    table = table_cast(table, features.arrow_schema)
    return datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=features))


def _open_npz(path) -> np.lib.npyio.NpzFile:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file (expected an .npz pose file)")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as err:
        raise ValueError(f"{path}: cannot be read as an .npz file ({err})") from err


def _require_keys(npz: np.lib.npyio.NpzFile, keys: tuple[str, ...], path, layout: str) -> None:
    missing = [key for key in keys if key not in npz.files]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing} of the {layout} layout; keys present: {npz.files}")
    if "joint_names" in npz.files and tuple(npz["joint_names"].tolist()) != JOINT_NAMES:
        raise ValueError(
            f"{path}: joint_names {npz['joint_names'].tolist()} are not the 17-joint Human3.6M order "
            f"{list(JOINT_NAMES)}"
        )


def from_bench_npz(path) -> datasets.Dataset:
    """An ElePose-Bench ``.npz``: ``keypoints_2d`` plus any of the other schema columns it holds."""
    with _open_npz(path) as npz:
        _require_keys(npz, ("keypoints_2d",), path, "ElePose-Bench")
        arrays = {name: npz[name] for name in POSE_FEATURES if name in npz.files}
    return dataset_from_arrays(**arrays)


def from_coco_json(path, min_keypoints: int = 8) -> datasets.Dataset:
    """COCO person-keypoints JSON -> 17 Human3.6M joints (``skeleton.to_h36m17``), pixel coordinates.

    Unlabelled COCO keypoints (v = 0) get confidence 0; annotations with fewer than ``min_keypoints``
    labelled keypoints are skipped (the count is logged).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file (expected a COCO person-keypoints .json)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot be read as JSON ({err})") from err
    annotations = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, list):
        raise ValueError(f"{path}: not a COCO keypoints file (no 'annotations' list)")
    flat = [a["keypoints"] for a in annotations if len(a.get("keypoints") or ()) == 3 * 17]
    raw = np.asarray(flat, dtype=np.float32).reshape(-1, 17, 3)  # (N, 17 COCO joints, [x, y, v])
    labelled = raw[..., 2] > 0  # (N, 17)
    keep = labelled.sum(axis=1) >= min_keypoints
    skipped = len(annotations) - int(keep.sum())
    logger.info(
        "%s: kept %d annotations, skipped %d (no 17 keypoints or fewer than %d labelled)",
        path,
        int(keep.sum()),
        skipped,
        min_keypoints,
    )
    if not keep.any():
        raise ValueError(f"{path}: no annotation has at least {min_keypoints} labelled keypoints")
    kp, conf = to_h36m17(raw[keep, :, :2], labelled[keep].astype(np.float32), source_format="coco17")
    return dataset_from_arrays(kp, confidence=conf)


# ----------------------------------------------------------------------------------------------------------
# Motion capture seen through random virtual cameras (ElePose-Bench protocol)
# ----------------------------------------------------------------------------------------------------------


def virtual_camera_views(
    positions,
    rng: np.random.Generator,
    elevation_mean_deg: float = 12.0,
    elevation_std_deg: float = 6.0,
    distance_range_m: tuple[float, float] = (4.0, 6.0),
    roll_std_deg: float = 1.5,
    aim_jitter_mm: float = 150.0,
    focal_px: float = 1145.0,
    principal_point: tuple[float, float] = (500.0, 500.0),
) -> dict[str, np.ndarray]:
    """Views world poses (N,17,3) (mm, y up) through one random perspective camera each.

    The camera aims at the pelvis plus a jitter (std ``aim_jitter_mm`` horizontally, 2/3 of it vertically, as
    measured on the ElePose-Bench files), from ``distance_range_m`` (uniform), azimuth uniform over 360°,
    elevation N(mean, std) clipped to ±85° (optical-axis pitch, positive = above looking down), roll N(0, std).
    Returns float32 ``keypoints_2d (N,17,2)`` pixels, ``keypoints_3d (N,17,3)`` mm in the camera frame,
    ``camera_elevation_deg (N,)``, ``intrinsics (4,)``, ``camera_rotation (N,3,3)`` (world -> camera rows
    x right, y down, z forward) and ``camera_center_mm (N,3)``.
    """
    world = np.asarray(positions, dtype=np.float64)  # (N, 17, 3)
    n = len(world)
    elevation = np.radians(np.clip(rng.normal(elevation_mean_deg, elevation_std_deg, n), -85.0, 85.0))
    azimuth = rng.uniform(0.0, 2.0 * np.pi, n)
    roll = np.radians(rng.normal(0.0, roll_std_deg, n))
    distance = 1000.0 * rng.uniform(distance_range_m[0], distance_range_m[1], n)
    jitter = rng.normal(0.0, 1.0, (n, 3)) * (aim_jitter_mm * np.array([1.0, 2.0 / 3.0, 1.0]))

    cos_el = np.cos(elevation)
    to_camera = np.stack([cos_el * np.sin(azimuth), np.sin(elevation), cos_el * np.cos(azimuth)], -1)  # (N, 3)
    center = world[:, ROOT_JOINT] + jitter + distance[:, None] * to_camera  # (N, 3)
    forward = -to_camera
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.cross(forward, right)
    cos_r, sin_r = np.cos(roll)[:, None], np.sin(roll)[:, None]
    rotation = np.stack([cos_r * right + sin_r * down, cos_r * down - sin_r * right, forward], axis=1)

    kp3 = np.einsum("nij,nkj->nki", rotation, world - center[:, None])  # (N, 17, 3) camera frame
    kp2 = focal_px * kp3[..., :2] / kp3[..., 2:] + np.asarray(principal_point)  # (N, 17, 2) pixels
    return {
        "keypoints_2d": kp2.astype(np.float32),
        "keypoints_3d": kp3.astype(np.float32),
        "camera_elevation_deg": np.degrees(elevation).astype(np.float32),
        "intrinsics": np.array([focal_px, focal_px, *principal_point], dtype=np.float32),
        "camera_rotation": rotation.astype(np.float32),
        "camera_center_mm": center.astype(np.float32),
    }


def _read_mocap(path) -> dict[str, np.ndarray]:
    """positions (N,17,3) float64 in mm with y up, plus take / activity / subject when present."""
    with _open_npz(path) as npz:
        _require_keys(npz, ("positions",), path, "mocap")
        positions = npz["positions"].astype(np.float64)
        up_axis = str(npz["up_axis"]) if "up_axis" in npz.files else "y"
        units = str(npz["units"]) if "units" in npz.files else "mm"
        out = {key: npz[key] for key in ("take", "activity", "subject") if key in npz.files}
    if positions.ndim != 3 or positions.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"{path}: positions must have shape (N, {NUM_JOINTS}, 3), got {positions.shape}")
    if up_axis not in ("y", "z") or units not in _UNIT_TO_MM:
        raise ValueError(
            f"{path}: expected up_axis 'y' or 'z' and units in {list(_UNIT_TO_MM)}, got {up_axis!r}, {units!r}"
        )
    if up_axis == "z":  # right-handed z-up (x, y, z) -> y-up (x, z, -y)
        positions = np.stack([positions[..., 0], positions[..., 2], -positions[..., 1]], axis=-1)
    out["positions"] = positions * _UNIT_TO_MM[units]
    return out


def _mocap_views(mocap: dict[str, np.ndarray], views_per_pose: int, rng: np.random.Generator, **camera) -> dict:
    """Schema columns of ``views_per_pose`` random views of every mocap pose (views of one pose adjacent)."""
    rows = np.repeat(np.arange(len(mocap["positions"])), views_per_pose)  # (N * views,)
    views = virtual_camera_views(mocap["positions"][rows], rng, **camera)
    columns = {name: views[name] for name in ("keypoints_2d", "keypoints_3d", "camera_elevation_deg", "intrinsics")}
    columns.update({key: mocap[key][rows] for key in ("take", "activity") if key in mocap})
    return columns


def from_mocap_npz(
    path=None,
    views_per_pose: int = 1,
    seed: int = 0,
    elevation_mean_deg: float = 12.0,
    elevation_std_deg: float = 6.0,
    distance_range_m: tuple[float, float] = (4.0, 6.0),
    roll_std_deg: float = 1.5,
    aim_jitter_mm: float = 150.0,
    focal_px: float = 1145.0,
    principal_point: tuple[float, float] = (500.0, 500.0),
) -> datasets.Dataset:
    """3D mocap ``.npz`` (``positions (N,17,3)``, ``up_axis`` "y"/"z", optional ``units``, ``take``, ``activity``)
    seen through ``views_per_pose`` random virtual cameras per pose (see ``virtual_camera_views``).

    ``path=None`` uses the shipped CMU mocap. Output: keypoints_2d (pixels), keypoints_3d (mm, camera frame),
    camera_elevation_deg, intrinsics, and take / activity when the file has them.
    """
    mocap = _read_mocap(DEFAULT_MOCAP_PATH if path is None else path)
    camera = dict(
        elevation_mean_deg=elevation_mean_deg,
        elevation_std_deg=elevation_std_deg,
        distance_range_m=distance_range_m,
        roll_std_deg=roll_std_deg,
        aim_jitter_mm=aim_jitter_mm,
        focal_px=focal_px,
        principal_point=principal_point,
    )
    return dataset_from_arrays(**_mocap_views(mocap, views_per_pose, np.random.default_rng(seed), **camera))


def default_dataset(
    seed: int = 0, train_views_per_pose: int = 4, validation_fraction: float = 0.1
) -> datasets.DatasetDict:
    """The shipped CMU mocap through random ElePose-Bench cameras, split by take (deterministic for a seed).

    ``train``: ``train_views_per_pose`` views per pose, 2D only (no ``keypoints_3d`` / ``camera_elevation_deg``).
    ``validation``: about ``validation_fraction`` of the frames, whole takes never seen in train, one view
    each, with 3D ground truth.
    """
    mocap = _read_mocap(DEFAULT_MOCAP_PATH)
    split_rng, train_rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    takes, counts = np.unique(mocap["take"], return_counts=True)
    order = split_rng.permutation(len(takes))
    num_val = int(np.searchsorted(np.cumsum(counts[order]), validation_fraction * counts.sum())) + 1
    num_val = min(max(num_val, 1), len(takes) - 1)
    is_val = np.isin(mocap["take"], takes[order[:num_val]])  # (N,)

    def subset(mask: np.ndarray) -> dict[str, np.ndarray]:
        return {key: value[mask] for key, value in mocap.items()}

    train = _mocap_views(subset(~is_val), train_views_per_pose, train_rng)
    validation = _mocap_views(subset(is_val), 1, val_rng)
    for name in THREE_D_COLUMNS:
        del train[name]
    return datasets.DatasetDict(
        {"train": dataset_from_arrays(**train), "validation": dataset_from_arrays(**validation)}
    )


# ----------------------------------------------------------------------------------------------------------
# Loading, reading and validation
# ----------------------------------------------------------------------------------------------------------


def _pick_split(dataset_dict: datasets.DatasetDict, split: str | None, source) -> datasets.Dataset:
    available = list(dataset_dict)
    if split is None:
        if "train" in dataset_dict:
            split = "train"
        elif len(available) == 1:
            split = available[0]
        else:
            raise ValueError(f"{source}: has several splits {available}: choose one with split=")
    if split not in dataset_dict:
        raise ValueError(f"{source}: no split {split!r}; available splits: {available}")
    return dataset_dict[split]


def load_poses(source, split: str | None = None) -> datasets.Dataset:
    """Poses from ``source``: a ``save_to_disk`` folder (Dataset or DatasetDict: ``split``, default "train" or
    the only split), an ``.npz`` (ElePose-Bench layout with ``keypoints_2d``, or mocap with ``positions``),
    a COCO ``.json``, or ``"default"`` (``default_dataset()``); ``"SOURCE:SPLIT"`` picks a split. Raises
    ``ValueError`` naming what is wrong.
    """
    if isinstance(source, str) and ":" in source and not Path(source).exists():
        source, split = source.rsplit(":", 1)  # "SOURCE:SPLIT", e.g. "default:validation"
    if isinstance(source, str) and source == "default":
        return _pick_split(default_dataset(), split, "default dataset")
    path = Path(source)
    expected = "a datasets folder saved with save_to_disk, an .npz, a COCO .json, or 'default'"
    if path.is_dir():
        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as err:
            raise ValueError(f"{path}: not a datasets folder saved with save_to_disk ({err})") from err
        return _pick_split(loaded, split, path) if isinstance(loaded, datasets.DatasetDict) else loaded
    if not path.exists():
        raise ValueError(f"{path}: no such file or directory (expected {expected})")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with _open_npz(path) as npz:
            keys = list(npz.files)
        if "keypoints_2d" in keys:
            return from_bench_npz(path)
        if "positions" in keys:
            return from_mocap_npz(path)
        raise ValueError(
            f"{path}: .npz has neither 'keypoints_2d' (ElePose-Bench layout) nor 'positions' (mocap layout); "
            f"keys present: {keys}"
        )
    if suffix == ".json":
        return from_coco_json(path)
    raise ValueError(f"{path}: unsupported file type {suffix!r} (expected {expected})")


def _is_list(arrow_type: pa.DataType) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)


def _column(dataset: datasets.Dataset, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Column ``name`` as numpy ``(len(dataset), *shape)``, read from the Arrow buffers.

    Much faster than the row formatter, also after ``shuffle`` / ``select`` (whose row mapping is applied
    with one vectorized take). Raises ``ValueError`` naming the rows whose shape is not ``shape``.
    """
    chunked = dataset.data.column(name)
    chunks = [c.storage if isinstance(c, pa.ExtensionArray) else c for c in chunked.chunks]
    storage_type = getattr(chunked.type, "storage_type", chunked.type)
    array = pa.concat_arrays(chunks) if chunks else pa.array([], type=storage_type)
    indices = dataset._indices  # set by select / shuffle / train_test_split instead of copying rows
    if indices is not None:
        array = array.take(indices.column(0).combine_chunks())
    n = len(array)
    for level, dim in enumerate(shape):
        if not _is_list(array.type):
            raise ValueError(f"column {name!r}: rows have shape {shape[:level]} (type {array.type}), expected {shape}")
        lengths = pc.list_value_length(array).fill_null(-1).to_numpy(zero_copy_only=False).reshape(n, -1)
        bad = np.flatnonzero((lengths != dim).any(axis=1))
        if len(bad):
            raise ValueError(
                f"column {name!r}: {len(bad)} rows do not have shape {shape} (size {dim} expected along "
                f"axis {level}); first rows: {bad[:5].tolist()}"
            )
        array = array.flatten()
    if _is_list(array.type):
        raise ValueError(f"column {name!r}: rows have more dimensions than the expected shape {shape}")
    values = array.to_numpy(zero_copy_only=False)
    return values.reshape(n, *shape)


def pose_arrays(dataset: datasets.Dataset, columns) -> dict[str, np.ndarray]:
    """The named columns stacked as numpy: float32 for schema columns (e.g. keypoints_2d (N,17,2)),
    str for ``take`` / ``activity``; other columns as the ``numpy`` formatter gives them."""
    columns = [columns] if isinstance(columns, str) else list(columns)
    missing = [name for name in columns if name not in dataset.column_names]
    if missing:
        raise ValueError(f"dataset has no column(s) {missing}; columns present: {dataset.column_names}")
    out = {}
    for name in columns:
        if name in STRING_COLUMNS:
            out[name] = _column(dataset, name, ()).astype(str)
        elif name in COLUMN_SHAPES:
            try:
                out[name] = _column(dataset, name, COLUMN_SHAPES[name]).astype(np.float32)
            except (TypeError, ValueError, pa.ArrowException) as err:
                raise ValueError(f"column {name!r} cannot be read as float32 {COLUMN_SHAPES[name]}: {err}") from err
        else:
            out[name] = np.asarray(dataset.with_format("numpy")[name][:])
    return out


def validate_poses(dataset: datasets.Dataset, require_3d: bool = False) -> None:
    """Raises ``ValueError`` before training if a required column (``keypoints_2d``; ``keypoints_3d`` with
    ``require_3d``) is missing, a schema column has the wrong per-row shape, or rows hold NaN/inf
    coordinates (keypoints_2d, and keypoints_3d when required) at joints whose confidence is not 0."""
    present = list(dataset.column_names)
    for name in ("keypoints_2d", "keypoints_3d") if require_3d else ("keypoints_2d",):
        if name not in present:
            why = " (3D ground truth is required here)" if name == "keypoints_3d" else ""
            raise ValueError(f"pose dataset has no {name!r} column{why}; columns present: {present}")
    if len(dataset) == 0:
        raise ValueError("pose dataset is empty")
    numeric = [name for name in COLUMN_SHAPES if name in present and name not in STRING_COLUMNS]
    arrays = pose_arrays(dataset, numeric)  # checks every per-row shape
    confidence = arrays.get("confidence")
    if confidence is not None and not np.isfinite(confidence).all():
        rows = np.flatnonzero(~np.isfinite(confidence).all(axis=1))
        raise ValueError(f"column 'confidence': {len(rows)} rows hold NaN/inf; first rows: {rows[:5].tolist()}")
    active = np.ones(arrays["keypoints_2d"].shape[:2], bool) if confidence is None else confidence != 0
    for name in ("keypoints_2d", "keypoints_3d") if require_3d else ("keypoints_2d",):
        rows = np.flatnonzero((~np.isfinite(arrays[name]).all(axis=-1) & active).any(axis=1))
        if len(rows):
            raise ValueError(
                f"column {name!r}: {len(rows)} rows hold NaN/inf coordinates at joints whose confidence is "
                f"not 0; first rows: {rows[:5].tolist()}"
            )
