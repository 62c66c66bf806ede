"""Helpers shared by the dataset converters: safe unpickling, camera geometry, and the command-line skeleton."""

from __future__ import annotations

import argparse
import io
import logging
import pickle
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import datasets
import numpy as np

from elepose_hf.data import dataset_from_arrays

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------------------
# Restricted unpickling
# ----------------------------------------------------------------------------------------------------------

_NUMPY_GLOBALS = {"_reconstruct", "scalar"}  # ndarray reconstruction; numpy scalar (dtype + raw bytes)
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {(module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray") for name in _NUMPY_GLOBALS}
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    # containers and plain values ("__builtin__" in Python 2 pickles)
    | {(module, name) for module in ("builtins", "__builtin__") for name in ("set", "frozenset", "complex", "slice")}
    # protocol-2 pickles written by Python 3 build ``bytes`` objects with _codecs.encode(str, "latin1")
    | {("_codecs", "encode")}
)


class ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle names a global outside ``ALLOWED_GLOBALS`` (loading it could run arbitrary code)."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only NumPy arrays / dtypes / scalars, Python containers and plain values.

    ``pickle`` (and ``np.load(..., allow_pickle=True)``) can call any importable function while loading; this
    unpickler refuses every global outside ``ALLOWED_GLOBALS`` with a ``ForbiddenGlobalError`` (an
    ``UnpicklingError``) naming it.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise ForbiddenGlobalError(
                f"forbidden global {module}.{name} in pickle (only NumPy arrays and containers are allowed)"
            )
        if module == "numpy.core.multiarray":  # NumPy 1.x name; NumPy 2 keeps it only as a deprecated alias
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def restricted_load(file: BinaryIO, encoding: str = "ASCII") -> Any:
    """``pickle.load`` through ``RestrictedUnpickler``; ``encoding="latin1"`` for Python 2 pickles of arrays."""
    return RestrictedUnpickler(file, encoding=encoding).load()


def read_npz_member(path: Path, key: str) -> Any:
    """Member ``key`` of an ``.npz``; object arrays (pickled dicts) go through ``RestrictedUnpickler``.

    A 0-d object array (how ``np.savez`` stores a dict) comes back as the object itself.
    Raises ``ValueError`` naming the missing key or an unreadable file, ``ForbiddenGlobalError`` for a pickle
    that names anything but NumPy arrays and containers.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: cannot be read as an .npz file ({err})") from err
    with archive:
        members = [name.removesuffix(".npy") for name in archive.namelist()]
        if key not in members:
            raise ValueError(f"{path}: missing key {key!r}; keys present: {members}")
        with archive.open(f"{key}.npy") as raw:
            fp = io.BytesIO(raw.read())
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"{path}: member {key!r} has unsupported .npy format version {version}")
    if not dtype.hasobject:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=False)
    try:
        array = restricted_load(fp, encoding="latin1")
    except ForbiddenGlobalError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: member {key!r} cannot be unpickled safely: {err}") from err
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise ValueError(f"{path}: member {key!r} is not the object array of shape {shape} its header announces")
    return array.item() if array.shape == () else array


# ----------------------------------------------------------------------------------------------------------
# Camera geometry
# ----------------------------------------------------------------------------------------------------------


def project(points_camera: np.ndarray, intrinsics) -> np.ndarray:
    """Pinhole projection of camera-frame points (..., 3) with ``[fx, fy, cx, cy]`` (broadcastable) -> (..., 2)."""
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    focal, center = intrinsics[..., None, :2], intrinsics[..., None, 2:]
    return focal * points_camera[..., :2] / points_camera[..., 2:] + center


def elevation_deg(world_to_camera: np.ndarray, up) -> np.ndarray:
    """Camera elevation (N,) in degrees from world->camera rotations (N, 3, 3) and the world's up vector (3,).

    The optical axis in world coordinates is the rotation's third row; elevation is its angle below the
    horizon (camera above, looking down > 0).
    """
    up = np.asarray(up, dtype=np.float64)
    forward = world_to_camera[..., 2, :] / np.linalg.norm(world_to_camera[..., 2, :], axis=-1, keepdims=True)
    return np.degrees(np.arcsin(np.clip(-forward @ (up / np.linalg.norm(up)), -1.0, 1.0)))


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------


def concatenated_dataset(parts: list[dict[str, np.ndarray]], names: Iterable[str] | None = None) -> datasets.Dataset:
    """One dataset from per-sequence column arrays: the columns ``names`` (default: the first part's) of all parts."""
    return dataset_from_arrays(**{name: np.concatenate([part[name] for part in parts]) for name in names or parts[0]})


def summary(dataset_dict: datasets.DatasetDict) -> str:
    """One line per split: rows and columns."""
    return "\n".join(
        f"  {name}: {len(split)} rows, columns {split.column_names}" for name, split in dataset_dict.items()
    )


def run_cli(parser: argparse.ArgumentParser, convert: Callable[[argparse.Namespace], datasets.DatasetDict]) -> int:
    """Parses arguments (``parser`` must define ``output_dir``), converts, saves with ``save_to_disk`` and prints a
    summary; a ``ValueError`` (wrong layout, missing key) or a refused pickle becomes an error message and exit
    status 2."""
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        dataset_dict = convert(args)
    except (ValueError, pickle.UnpicklingError) as err:
        parser.error(str(err))
    dataset_dict.save_to_disk(str(args.output_dir))
    print(f"saved {args.output_dir}:\n{summary(dataset_dict)}")
    return 0
