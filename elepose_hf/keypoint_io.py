"""Keypoint files in, lifting results out.

``read_keypoints(path)`` returns a [`KeypointSet`] (pixel keypoints of one source format, one row per person)
from any of:

- an ElePose-Bench-style ``.npz``: ``keypoints_2d (N, J, 2)``, optional ``confidence (N, J)``,
  ``intrinsics [fx, fy, cx, cy]``, ``image_size [width, height]``, ``keypoint_format`` (a string; otherwise
  ``joint_names`` equal to the Human3.6M order, or the joint count, decides) and ``names (N,)``;
- a COCO person-keypoints ``.json``: a dataset file (``annotations[*].keypoints``, flat ``x, y, v`` x 17;
  ``v = 0`` (unlabelled) gives confidence 0, labelled joints confidence 1) or a results file (a list of
  detections whose third value is the keypoint score); one row per annotation, named ``image<id>/ann<id>``;
- OpenPose output: a folder of ``*.json`` files (sorted by name, one per frame) or a single file, with
  ``people[*].pose_keypoints_2d`` (flat ``x, y, c`` x 25, BODY_25); one row per person per frame, named
  ``<file stem>/person<k>``; frames without people add no row;
- a ``.csv`` with a header row and one pose per line, in one of two layouts (``J`` is read off the columns):

  * indexed: ``x0,y0,x1,y1,...`` with optional ``c0,c1,...`` confidence columns;
  * named: ``<joint>_x,<joint>_y`` with optional ``<joint>_c``, joints in the order of their first column;

  plus an optional ``name`` column. An empty or NaN cell marks a missing joint (confidence 0);
- an image (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.webp``), through the optional keypoint detector
  (``pip install elepose-hf[detector]``).

Every unreadable input raises ``ValueError`` naming the file and the problem. ``write_results`` saves a lifting
result as ``.npz`` (arrays) or ``.json`` (a list of per-pose records).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .skeleton import JOINT_NAMES, KEYPOINT_FORMATS, detect_format

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_INDEXED_COLUMN = re.compile(r"^([xyc])(\d+)$")
_NAMED_COLUMN = re.compile(r"^(.+)_([xyc])$")


@dataclass
class KeypointSet:
    """2D keypoints of ``N`` people in one source format.

    Args:
        keypoints: ``(N, J, 2)`` float32 pixel coordinates (NaN allowed where a joint is missing).
        confidence: ``(N, J)`` float32; 0 (or NaN) marks a missing joint.
        keypoint_format: one of ``skeleton.KEYPOINT_FORMATS`` (its joint count must be ``J``).
        intrinsics: ``[fx, fy, cx, cy]`` pixels, when known.
        image_size: ``(width, height)`` pixels, when known.
        names: ``N`` labels (frame / person), when the source has them.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    keypoint_format: str
    intrinsics: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    names: list[str] | None = None

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        if self.keypoints.ndim != 3 or self.keypoints.shape[-1] != 2:
            raise ValueError(f"keypoints must have shape (N, J, 2), got {self.keypoints.shape}")
        if self.confidence.shape != self.keypoints.shape[:2]:
            raise ValueError(f"confidence must have shape {self.keypoints.shape[:2]}, got {self.confidence.shape}")
        if self.keypoint_format not in KEYPOINT_FORMATS:
            raise ValueError(f"unknown keypoint format {self.keypoint_format!r}; supported: {list(KEYPOINT_FORMATS)}")
        if KEYPOINT_FORMATS[self.keypoint_format] != self.keypoints.shape[1]:
            raise ValueError(
                f"format {self.keypoint_format!r} has {KEYPOINT_FORMATS[self.keypoint_format]} joints, "
                f"the keypoints have {self.keypoints.shape[1]}"
            )
        if self.intrinsics is not None:
            self.intrinsics = np.asarray(self.intrinsics, dtype=np.float32)
            if self.intrinsics.shape != (4,):
                raise ValueError(f"intrinsics must be [fx, fy, cx, cy], got shape {self.intrinsics.shape}")
        if self.image_size is not None:
            self.image_size = tuple(int(v) for v in np.asarray(self.image_size).reshape(-1))
            if len(self.image_size) != 2:
                raise ValueError(f"image_size must be (width, height), got {self.image_size}")
        if self.names is not None:
            self.names = [str(name) for name in self.names]
            if len(self.names) != len(self.keypoints):
                raise ValueError(f"{len(self.names)} names for {len(self.keypoints)} poses")

    def __len__(self) -> int:
        return len(self.keypoints)


def _keypoint_set(path: Path, **fields: Any) -> KeypointSet:
    """A ``KeypointSet``, its validation errors prefixed with ``path``."""
    if len(fields["keypoints"]) == 0:
        raise ValueError(f"{path}: holds no poses")
    try:
        return KeypointSet(**fields)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def _format_for(path: Path, num_joints: int, keypoint_format: str | None) -> str:
    if keypoint_format is not None:
        return keypoint_format
    try:
        return detect_format(num_joints)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err})") from err
    if not text.strip():
        raise ValueError(f"{path}: is empty")
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f"{path}: is not valid JSON ({err})") from err


def _flat_triplets(path: Path, rows: list, num_joints: int, what: str) -> np.ndarray:
    """Flat ``x, y, c`` lists -> ``(N, num_joints, 3)`` float32; ``ValueError`` naming the first bad row."""
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 3 * num_joints:
            size = len(row) if isinstance(row, list) else type(row).__name__
            raise ValueError(
                f"{path}: {what} {index} has {size} keypoint values, expected {3 * num_joints} "
                f"({num_joints} joints x (x, y, confidence))"
            )
    try:
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), num_joints, 3)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {what} keypoints are not numbers ({err})") from err


def read_npz(path: str | Path, keypoint_format: str | None = None) -> KeypointSet:
    """An ElePose-Bench-style ``.npz`` (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as err:
        raise ValueError(f"{path}: cannot be read as an .npz file ({err})") from err
    if "keypoints_2d" not in arrays:
        raise ValueError(f"{path}: no 'keypoints_2d' array; arrays present: {sorted(arrays)}")
    keypoints = arrays["keypoints_2d"]
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        raise ValueError(f"{path}: keypoints_2d must have shape (N, J, 2), got {keypoints.shape}")
    if keypoint_format is None and "keypoint_format" in arrays:
        keypoint_format = str(arrays["keypoint_format"])
    if keypoint_format is None and "joint_names" in arrays and tuple(arrays["joint_names"].tolist()) == JOINT_NAMES:
        keypoint_format = "h36m17"
    confidence = arrays.get("confidence", np.ones(keypoints.shape[:2], dtype=np.float32))
    names = arrays["names"].tolist() if "names" in arrays else None
    return _keypoint_set(
        path,
        keypoints=keypoints,
        confidence=confidence,
        keypoint_format=_format_for(path, keypoints.shape[1], keypoint_format),
        intrinsics=arrays.get("intrinsics"),
        image_size=arrays.get("image_size"),
        names=names,
    )


def read_coco_json(path: str | Path, data: Any = None) -> KeypointSet:
    """A COCO person-keypoints dataset or results ``.json`` (COCO-17; see the module docstring)."""
    path = Path(path)
    data = _read_json(path) if data is None else data
    results = isinstance(data, list)
    annotations = data if results else data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        raise ValueError(f"{path}: not a COCO keypoints file (no 'annotations' list of objects)")
    if not annotations:
        raise ValueError(f"{path}: holds no annotations")
    missing = [i for i, a in enumerate(annotations) if "keypoints" not in a]
    if missing:
        raise ValueError(f"{path}: annotation(s) {missing[:5]} have no 'keypoints'")
    raw = _flat_triplets(path, [a["keypoints"] for a in annotations], 17, "annotation")  # (N, 17, [x, y, v])
    confidence = raw[..., 2] if results else (raw[..., 2] > 0).astype(np.float32)
    names = [f"image{a.get('image_id', '?')}/ann{a.get('id', i)}" for i, a in enumerate(annotations)]
    return _keypoint_set(path, keypoints=raw[..., :2], confidence=confidence, keypoint_format="coco17", names=names)


def read_openpose(path: str | Path) -> KeypointSet:
    """OpenPose BODY_25 JSON: a folder of per-frame files or one file (see the module docstring)."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: folder holds no OpenPose .json files")
    rows, names = [], []
    for file in files:
        data = _read_json(file)
        if not isinstance(data, dict) or not isinstance(data.get("people"), list):
            raise ValueError(f"{file}: not an OpenPose keypoints file (no 'people' list)")
        for k, person in enumerate(data["people"]):
            if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
                raise ValueError(f"{file}: person {k} has no 'pose_keypoints_2d'")
            rows.append(person["pose_keypoints_2d"])
            names.append(f"{file.stem}/person{k}")
    if not rows:
        raise ValueError(f"{path}: no person in {len(files)} OpenPose file(s)")
    raw = _flat_triplets(path, rows, 25, "person (BODY_25)")  # (N, 25, [x, y, c])
    return _keypoint_set(
        path, keypoints=raw[..., :2], confidence=raw[..., 2], keypoint_format="openpose25", names=names
    )


def _csv_layout(path: Path, header: list[str]) -> tuple[list[int], list[int], list[int | None]]:
    """Column indices of x, y and confidence (None: absent) per joint, from an indexed or named header."""
    columns: dict[str, dict[str, int]] = {}  # joint key -> {"x"|"y"|"c": column}
    unknown = []
    indexed = all(_INDEXED_COLUMN.match(h) for h in header if h != "name")
    for position, title in enumerate(header):
        if title == "name":
            continue
        match = (_INDEXED_COLUMN if indexed else _NAMED_COLUMN).match(title)
        if match is None:
            unknown.append(title)
            continue
        joint, axis = (match[2], match[1]) if indexed else (match[1], match[2])
        columns.setdefault(joint, {})[axis] = position
    if unknown:
        raise ValueError(
            f"{path}: unrecognised column(s) {unknown[:5]}; expected x0,y0,x1,y1,... (optional c0,c1,...) or "
            "<joint>_x,<joint>_y (optional <joint>_c), plus an optional 'name' column"
        )
    joints = sorted(columns, key=int) if indexed else list(columns)
    if not joints:
        raise ValueError(f"{path}: the header names no keypoint columns")
    incomplete = [joint for joint in joints if not {"x", "y"} <= set(columns[joint])]
    if incomplete:
        raise ValueError(f"{path}: joint(s) {incomplete[:5]} lack an x or y column")
    if indexed and [int(j) for j in joints] != list(range(len(joints))):
        raise ValueError(f"{path}: joint indices must run 0..J-1, got {joints}")
    return (
        [columns[j]["x"] for j in joints],
        [columns[j]["y"] for j in joints],
        [columns[j].get("c") for j in joints],
    )


def read_csv(path: str | Path, keypoint_format: str | None = None) -> KeypointSet:
    """A keypoint ``.csv`` in the indexed or named layout (see the module docstring)."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            lines = [row for row in csv.reader(handle) if row]
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot be read as CSV ({err})") from err
    if not lines:
        raise ValueError(f"{path}: is empty")
    header = [title.strip() for title in lines[0]]
    xs, ys, cs = _csv_layout(path, header)
    body = lines[1:]
    bad = [i + 2 for i, row in enumerate(body) if len(row) != len(header)]
    if bad:
        raise ValueError(f"{path}: line(s) {bad[:5]} do not have the header's {len(header)} columns")
    if not body:
        raise ValueError(f"{path}: has a header but no poses")
    cells = np.char.strip(np.asarray(body, dtype=str))  # (N, columns)
    cells[cells == ""] = "nan"
    numeric = [c for c, title in enumerate(header) if title != "name"]
    try:
        values = np.full(cells.shape, np.nan, dtype=np.float32)
        values[:, numeric] = cells[:, numeric].astype(np.float32)
    except ValueError as err:
        raise ValueError(f"{path}: a keypoint cell is not a number ({err})") from err
    keypoints = np.stack([values[:, xs], values[:, ys]], axis=-1)  # (N, J, 2)
    confidence = np.stack([values[:, c] if c is not None else np.ones(len(values)) for c in cs], axis=-1)
    confidence = np.where(np.isfinite(keypoints).all(-1), np.nan_to_num(confidence, nan=0.0), 0.0)
    names = cells[:, header.index("name")].tolist() if "name" in header else None
    return _keypoint_set(
        path,
        keypoints=keypoints,
        confidence=confidence,
        keypoint_format=_format_for(path, keypoints.shape[1], keypoint_format),
        names=names,
    )


def read_image(path: str | Path) -> KeypointSet:
    """Keypoints of the person in an image, through ``elepose_hf.detector`` (MediaPipe-33)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        from .detector import detect_keypoints
    except ImportError as err:
        raise ValueError(
            f"{path}: reading images needs the keypoint detector: pip install 'elepose-hf[detector]' ({err})"
        ) from err
    keypoints = detect_keypoints(str(path))
    if keypoints.names is None:
        keypoints.names = [f"{path.name}/person{k}" for k in range(len(keypoints))]
    return keypoints


def read_keypoints(path: str | Path, keypoint_format: str | None = None) -> KeypointSet:
    """Read any supported keypoint input (see the module docstring); ``keypoint_format`` overrides detection
    for ``.npz`` and ``.csv`` (COCO, OpenPose and image inputs have a fixed format)."""
    path = Path(path)
    if path.is_dir():
        return read_openpose(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file or directory")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return read_npz(path, keypoint_format)
    if suffix == ".csv":
        return read_csv(path, keypoint_format)
    if suffix in IMAGE_SUFFIXES:
        return read_image(path)
    if suffix == ".json":
        data = _read_json(path)
        if isinstance(data, dict) and "people" in data:
            return read_openpose(path)
        return read_coco_json(path, data)
    raise ValueError(
        f"{path}: unsupported input {suffix!r}; expected .npz, .json (COCO or OpenPose), an OpenPose folder, "
        f".csv or an image ({', '.join(IMAGE_SUFFIXES)})"
    )


class _Result(Protocol):
    def to_arrays(self) -> dict[str, np.ndarray]: ...

    def to_records(self) -> list[dict]: ...


def write_results(path: str | Path, result: _Result) -> None:
    """Save a lifting result: ``.npz`` (every array, e.g. ``keypoints_3d (N, 17, 3)``, ``camera_elevation_deg
    (N,)``, ``nll (N,)``) or ``.json`` (a list of per-pose records)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".json"):
        raise ValueError(f"{path}: results are written as .npz or .json, not {suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npz":
        np.savez_compressed(path, **result.to_arrays())
    else:
        path.write_text(json.dumps(result.to_records()))
