"""Tests of elepose_hf.data: builders, load_poses, virtual cameras, validation."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from elepose_hf.data import (
    POSE_FEATURES,
    dataset_from_arrays,
    default_dataset,
    from_bench_npz,
    from_coco_json,
    from_mocap_npz,
    load_poses,
    pose_arrays,
    pose_features,
    validate_poses,
    virtual_camera_views,
)
from elepose_hf.skeleton import BONES, JOINT_NAMES

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data folder {SHARED} is absent")
MOCAP = Path(__file__).resolve().parents[1] / "elepose_hf" / "resources" / "cmu_h36m17.npz"


def _mocap_slice(n: int = 40) -> dict[str, np.ndarray]:
    with np.load(MOCAP) as npz:
        return {key: npz[key][:n] for key in ("positions", "take", "activity")}


def _bone_lengths(pose: np.ndarray) -> np.ndarray:
    parent, child = np.array(BONES).T
    return np.linalg.norm(pose[..., child, :] - pose[..., parent, :], axis=-1)


def _kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotations R (N,3,3) with target ≈ R @ source + t, per pose."""
    src = source - source.mean(1, keepdims=True)
    tgt = target - target.mean(1, keepdims=True)
    u, _, vt = np.linalg.svd(np.einsum("nki,nkj->nij", tgt, src))
    sign = np.sign(np.linalg.det(u @ vt))
    u[:, :, -1] *= sign[:, None]
    return u @ vt


def test_schema_and_features_subset():
    assert POSE_FEATURES["keypoints_2d"].shape == (17, 2)
    assert list(pose_features(["take", "keypoints_2d"])) == ["keypoints_2d", "take"]
    with pytest.raises(ValueError, match="keypoints_2d"):
        pose_features(["confidence"])


def test_bench_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "keypoints_2d": rng.normal(500, 100, (30, 17, 2)).astype(np.float32),
        "keypoints_3d": rng.normal(0, 500, (30, 17, 3)).astype(np.float32),
        "camera_elevation_deg": rng.normal(12, 6, 30).astype(np.float32),
        "intrinsics": np.array([1145, 1145, 500, 500], np.float32),
        "take": np.array([f"take{i // 10}" for i in range(30)]),
        "activity": np.array(["walk"] * 30),
        "joint_names": np.array(JOINT_NAMES),
        "frame_index": np.arange(30),
    }
    np.savez(tmp_path / "bench.npz", **arrays)
    ds = from_bench_npz(tmp_path / "bench.npz")
    ds.save_to_disk(str(tmp_path / "saved"))
    loaded = load_poses(tmp_path / "saved")
    assert loaded.features == ds.features
    out = pose_arrays(loaded, ["keypoints_2d", "keypoints_3d", "camera_elevation_deg", "intrinsics", "take"])
    for name in ("keypoints_2d", "keypoints_3d", "camera_elevation_deg"):
        np.testing.assert_array_equal(out[name], arrays[name])
    np.testing.assert_array_equal(out["intrinsics"], np.tile(arrays["intrinsics"], (30, 1)))
    np.testing.assert_array_equal(out["take"], arrays["take"])
    # a shuffled selection reads back the same rows
    sub = loaded.shuffle(seed=1).select(range(7))
    expected = sub.with_format("numpy")["keypoints_2d"][:]  # datasets' own (slow) row formatter
    np.testing.assert_array_equal(pose_arrays(sub, "keypoints_2d")["keypoints_2d"], expected)
    np.testing.assert_array_equal(pose_arrays(loaded.select([5, 2, 9]), "take")["take"], arrays["take"][[5, 2, 9]])
    validate_poses(loaded, require_3d=True)


def test_dataset_from_arrays_shapes():
    ds = dataset_from_arrays(np.zeros((5, 17, 2)), confidence=np.ones((5, 17)), take="t", intrinsics=[1, 1, 0, 0])
    assert ds.column_names == ["keypoints_2d", "confidence", "intrinsics", "take"]
    assert ds[0]["take"] == "t"
    with pytest.raises(ValueError, match="keypoints_2d"):
        dataset_from_arrays(np.zeros((5, 16, 2)))
    with pytest.raises(ValueError, match="confidence"):
        dataset_from_arrays(np.zeros((5, 17, 2)), confidence=np.ones((4, 17)))


@needs_shared
def test_real_val_has_3d():
    ds = load_poses(SHARED / "bench" / "val.npz")
    assert {"keypoints_2d", "keypoints_3d", "camera_elevation_deg", "intrinsics"} <= set(ds.column_names)
    validate_poses(ds, require_3d=True)
    arrays = pose_arrays(ds.select(range(200)), ["keypoints_2d", "keypoints_3d", "intrinsics"])
    fx, fy, cx, cy = arrays["intrinsics"][0]
    kp3 = arrays["keypoints_3d"]
    projected = np.stack([fx * kp3[..., 0] / kp3[..., 2] + cx, fy * kp3[..., 1] / kp3[..., 2] + cy], -1)
    np.testing.assert_allclose(projected, arrays["keypoints_2d"], atol=0.05)


@needs_shared
def test_real_train_2d_loads():
    ds = load_poses(SHARED / "bench" / "train_2d.npz")
    assert len(ds) == 255_400 and "keypoints_3d" not in ds.column_names
    validate_poses(ds)


@needs_shared
def test_coco_json(caplog):
    path = SHARED / "coco" / "person_keypoints_val2017_single_person.json"
    raw = np.array([a["keypoints"] for a in json.loads(path.read_text())["annotations"]]).reshape(-1, 17, 3)
    with caplog.at_level("INFO", logger="elepose_hf.data"):
        ds = load_poses(path)
    assert "skipped" in caplog.text
    assert len(ds) == len(raw)  # every annotation of this subset has >= 10 labelled keypoints
    conf = pose_arrays(ds, "confidence")["confidence"]
    # h36m rknee (2) is COCO right_knee (14), lwrist (13) is COCO left_wrist (9)
    np.testing.assert_array_equal(conf[:, 2] == 0, raw[:, 14, 2] == 0)
    np.testing.assert_array_equal(conf[:, 13] == 0, raw[:, 9, 2] == 0)
    assert (conf == 0).any()
    validate_poses(ds)
    assert len(from_coco_json(path, min_keypoints=17)) == int(((raw[..., 2] > 0).sum(1) >= 17).sum())


def test_mocap_projection_and_rigidity(tmp_path):
    mocap = _mocap_slice(40)
    np.savez(tmp_path / "mocap.npz", up_axis="y", **mocap)
    ds = from_mocap_npz(tmp_path / "mocap.npz", views_per_pose=3, seed=2)
    assert len(ds) == 120
    arrays = pose_arrays(ds, ["keypoints_2d", "keypoints_3d", "intrinsics"])
    fx, fy, cx, cy = arrays["intrinsics"][0]
    kp3 = arrays["keypoints_3d"].astype(np.float64)
    projected = np.stack([fx * kp3[..., 0] / kp3[..., 2] + cx, fy * kp3[..., 1] / kp3[..., 2] + cy], -1)
    np.testing.assert_allclose(projected, arrays["keypoints_2d"], atol=1e-3)
    source = np.repeat(mocap["positions"], 3, axis=0).astype(np.float64)
    np.testing.assert_allclose(_bone_lengths(kp3), _bone_lengths(source), atol=0.05)
    assert (kp3[..., 2] > 3000).all()  # 4-6 m away, in front of the camera
    # deterministic for a seed
    again = pose_arrays(from_mocap_npz(tmp_path / "mocap.npz", views_per_pose=3, seed=2), "keypoints_2d")
    np.testing.assert_array_equal(again["keypoints_2d"], arrays["keypoints_2d"])


@pytest.mark.parametrize("up_axis", ["y", "z"])
def test_mocap_elevation_sign_matches_up_vector(tmp_path, up_axis):
    mocap = _mocap_slice(50)
    positions = mocap["positions"]
    if up_axis == "z":  # same motion stored z-up: (x, y, z)_y-up -> (x, -z, y)
        positions = np.stack([positions[..., 0], -positions[..., 2], positions[..., 1]], -1)
    np.savez(tmp_path / "mocap.npz", positions=positions, up_axis=up_axis)
    ds = from_mocap_npz(tmp_path / "mocap.npz", views_per_pose=20, seed=3, elevation_std_deg=20.0)
    arrays = pose_arrays(ds, ["keypoints_3d", "camera_elevation_deg"])
    rotation = _kabsch(np.repeat(mocap["positions"], 20, axis=0), arrays["keypoints_3d"])  # world y-up -> camera
    up_in_camera = rotation[:, :, 1]  # (N, 3)
    elevation = arrays["camera_elevation_deg"]
    assert (elevation > 5).any() and (elevation < -5).any()
    # camera above looking down (elevation > 0): world up points back toward the camera (negative z)
    np.testing.assert_allclose(np.degrees(np.arcsin(-up_in_camera[:, 2])), elevation, atol=0.05)
    assert (up_in_camera[:, 1] < 0).all()  # upright camera: world up is image-up (-y)


def test_virtual_camera_statistics():
    positions = np.repeat(_mocap_slice(10)["positions"], 2000, axis=0)
    views = virtual_camera_views(positions, np.random.default_rng(0))
    elevation = views["camera_elevation_deg"]
    assert abs(elevation.mean() - 12.0) < 0.3 and abs(elevation.std() - 6.0) < 0.3
    rotation = views["camera_rotation"].astype(np.float64)
    np.testing.assert_allclose(
        rotation @ rotation.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rotation.shape), atol=1e-5
    )
    np.testing.assert_allclose(np.degrees(np.arcsin(-rotation[:, 2, 1])), elevation, atol=0.01)  # pitch of the axis
    distance = np.linalg.norm(views["camera_center_mm"] - positions[:, 0], axis=-1)
    assert distance.min() > 3000 and distance.max() < 7000 and abs(distance.mean() - 5000) < 30  # 4-6 m + jitter
    roll = np.degrees(np.arcsin(rotation[:, 0, 1]))  # x axis tilt out of the horizontal plane
    assert abs(roll.std() - 1.5) < 0.1


def test_default_dataset():
    dd = default_dataset(seed=0)
    assert set(dd) == {"train", "validation"}
    train, val = dd["train"], dd["validation"]
    assert "keypoints_3d" not in train.column_names and "camera_elevation_deg" not in train.column_names
    assert {"keypoints_3d", "camera_elevation_deg"} <= set(val.column_names)
    train_takes, val_takes = set(train.unique("take")), set(val.unique("take"))
    assert val_takes and not train_takes & val_takes
    assert 0.05 < len(val) / (len(val) + len(train) / 4) < 0.2
    validate_poses(train)
    validate_poses(val, require_3d=True)
    again = default_dataset(seed=0)["validation"]
    np.testing.assert_array_equal(
        pose_arrays(again, "keypoints_2d")["keypoints_2d"], pose_arrays(val, "keypoints_2d")["keypoints_2d"]
    )
    assert set(default_dataset(seed=1)["validation"].unique("take")) != val_takes
    assert "keypoints_3d" in load_poses("default", split="validation").column_names


def test_load_poses_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_poses(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", poses=np.zeros((3, 17, 2)))
    with pytest.raises(ValueError, match="'keypoints_2d'.*'positions'.*poses"):
        load_poses(tmp_path / "other.npz")
    (tmp_path / "poses.csv").write_text("x\n")
    with pytest.raises(ValueError, match="unsupported"):
        load_poses(tmp_path / "poses.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="save_to_disk"):
        load_poses(tmp_path / "empty")
    ds = dataset_from_arrays(np.zeros((4, 17, 2)))
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(ValueError, match=r"'validation'.*\['train', 'test'\]"):
        load_poses(tmp_path / "dict", split="validation")
    assert len(load_poses(tmp_path / "dict")) == 4
    datasets.DatasetDict({"a": ds, "b": ds}).save_to_disk(str(tmp_path / "dict2"))
    with pytest.raises(ValueError, match="split="):
        load_poses(tmp_path / "dict2")


def test_validate_poses_errors():
    no_2d = datasets.Dataset.from_dict({"points": [[0.0, 1.0]]})
    with pytest.raises(ValueError, match=r"'keypoints_2d'.*\['points'\]"):
        validate_poses(no_2d)

    kp = np.zeros((10, 17, 2), np.float32)
    kp[[3, 7], 5, 0] = np.nan
    kp[8, 2, 1] = np.inf
    with pytest.raises(ValueError, match=r"'keypoints_2d': 3 rows.*\[3, 7, 8\]"):
        validate_poses(dataset_from_arrays(kp))
    conf = np.ones((10, 17), np.float32)
    conf[[3, 7], 5] = 0
    conf[8, 2] = 0
    validate_poses(dataset_from_arrays(kp, confidence=conf))  # NaN only where confidence is 0: fine

    with pytest.raises(ValueError, match="keypoints_3d"):
        validate_poses(dataset_from_arrays(np.zeros((2, 17, 2))), require_3d=True)
    kp3 = np.ones((10, 17, 3), np.float32)
    kp3[4, 0, 2] = np.nan
    with pytest.raises(ValueError, match=r"'keypoints_3d'.*\[4\]"):
        validate_poses(dataset_from_arrays(np.zeros((10, 17, 2)), keypoints_3d=kp3), require_3d=True)

    wrong_shape = datasets.Dataset.from_dict({"keypoints_2d": [np.zeros((17, 2)).tolist(), np.zeros((16, 2)).tolist()]})
    with pytest.raises(ValueError, match=r"'keypoints_2d'.*\(17, 2\).*\[1\]"):
        validate_poses(wrong_shape)


def test_source_colon_split_picks_the_split():
    validation = load_poses("default:validation")
    assert "keypoints_3d" in validation.column_names
    assert "keypoints_3d" not in load_poses("default").column_names
    with pytest.raises(ValueError, match="nope"):
        load_poses("default:nope")
