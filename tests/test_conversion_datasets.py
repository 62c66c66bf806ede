"""Dataset converters on tiny files written in the exact public layouts (Human3.6M / VideoPose3D, MPI-INF-3DHP,
3DPW), on the real COCO subset and on the real BVH takes in ../shared."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest

from conversion import bvh
from conversion import convert_coco as convert_coco_module
from conversion._common import ForbiddenGlobalError, project, read_npz_member
from conversion.convert_3dhp import INTRINSICS as INTRINSICS_3DHP
from conversion.convert_3dhp import THREEDHP_TO_OURS, convert_3dhp
from conversion.convert_3dpw import SMPL24_TO_OURS, convert_3dpw
from conversion.convert_bvh import convert_bvh
from conversion.convert_coco import convert_coco
from conversion.convert_h36m import EXTRINSICS, H36M32_TO_17, convert_h36m
from conversion.convert_h36m import INTRINSICS as INTRINSICS_H36M
from elepose_hf.data import POSE_FEATURES, load_poses, pose_arrays, validate_poses
from elepose_hf.skeleton import BONES, JOINT_NAMES

REPO = Path(__file__).resolve().parents[1]

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HIP, RHIP, LHIP, RANKLE, LANKLE, THORAX, NECK_NOSE, HEAD = 0, 1, 4, 3, 6, 8, 9, 10


def _shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared data {path} is absent (the ../shared folder beside the repository)")
    return path


@pytest.fixture(scope="module")
def bench() -> dict[str, np.ndarray]:
    """Upright ElePose-Bench validation poses: camera-frame 3D (mm, y down), 2D, camera rotation / centre, elevation."""
    with np.load(_shared("data/bench/val.npz")) as npz:
        keep = np.flatnonzero(npz["keypoints_3d"][:, HEAD, 1] < npz["keypoints_3d"][:, HIP, 1])[:400]
        return {
            k: npz[k][keep].astype(np.float64)
            for k in ("keypoints_3d", "keypoints_2d", "camera_rotation", "camera_center_mm", "camera_elevation_deg")
        }


def _world_y_up(bench: dict[str, np.ndarray]) -> np.ndarray:
    """The bench poses (N, 17, 3) back in their y-up world (mm)."""
    return (
        np.einsum("nji,nkj->nki", bench["camera_rotation"], bench["keypoints_3d"]) + bench["camera_center_mm"][:, None]
    )


def _assert_schema(split: datasets.Dataset, columns: set[str]) -> None:
    assert set(split.column_names) == columns
    for name in columns:
        assert split.features[name] == POSE_FEATURES[name]
    validate_poses(split, require_3d="keypoints_3d" in columns)


def test_joint_maps_by_name():
    """Each source's joints, by their documented names, land on this library's joints."""
    limbs = {name: name for name in JOINT_NAMES if name[0] in "lr"}  # same names in every source below

    def mapped(indices: tuple[int, ...], source_names: list[str]) -> dict[str, str]:
        return {ours: source_names[i] for ours, i in zip(JOINT_NAMES, indices, strict=True)}

    h36m32 = ["hip", "rhip", "rknee", "rankle", "rtoe", "rsite", "lhip", "lknee", "lankle", "ltoe", "lsite", "spine",
              "spine1", "neck", "head", "head_site", "lclavicle", "lshoulder", "lelbow", "lwrist", "lthumb", "lsite2",
              "lhand", "lsite3", "rclavicle", "rshoulder", "relbow", "rwrist", "rthumb", "rsite2", "rhand",
              "rsite3"]  # fmt: skip
    torso = {"hip": "hip", "spine": "spine1", "thorax": "neck", "neck_nose": "head", "head": "head_site"}
    assert mapped(H36M32_TO_17, h36m32) == {**limbs, **torso}
    threedhp = ["head_top", "neck", "rshoulder", "relbow", "rwrist", "lshoulder", "lelbow", "lwrist", "rhip", "rknee",
                "rankle", "lhip", "lknee", "lankle", "pelvis", "spine", "head"]  # fmt: skip
    torso = {"hip": "pelvis", "spine": "spine", "thorax": "neck", "neck_nose": "head", "head": "head_top"}
    assert mapped(THREEDHP_TO_OURS, threedhp) == {**limbs, **torso}
    smpl = ["pelvis", "lhip", "rhip", "spine1", "lknee", "rknee", "spine2", "lankle", "rankle", "spine3", "lfoot",
            "rfoot", "neck", "lcollar", "rcollar", "head", "lshoulder", "rshoulder", "lelbow", "relbow", "lwrist",
            "rwrist", "lhand", "rhand"]  # fmt: skip
    torso = {"hip": "pelvis", "spine": "spine2", "thorax": "neck", "neck_nose": "head", "head": "head"}  # then moved up
    assert mapped(SMPL24_TO_OURS, smpl) == {**limbs, **torso}


# ----------------------------------------------------------------------------------------------------------
# Human3.6M (VideoPose3D layout)
# ----------------------------------------------------------------------------------------------------------


def _qrot_inverse(quaternion, vectors: np.ndarray) -> np.ndarray:
    """Rotates vectors (..., 3) by the inverse of quaternion (w, x, y, z), as VideoPose3D's qrot(qinverse(q), v)."""
    w, axis = quaternion[0], -np.asarray(quaternion[1:])
    uv = np.cross(axis, vectors)
    return vectors + 2 * (w * uv + np.cross(axis, uv))


@pytest.fixture
def h36m_dir(tmp_path, bench) -> Path:
    """VideoPose3D files: S1 (train) and S9 (test) with one action of 130 frames; 2D from the true cameras."""
    world17 = _world_y_up(bench)[:130]
    world17 = np.stack([world17[..., 0], -world17[..., 2], world17[..., 1]], axis=-1) / 1000.0  # z up, metres
    world17 -= world17[:, :1] * np.array([1.0, 1.0, 0.0])  # stand at the capture volume's centre
    world32 = np.repeat(world17[:, :1], 32, axis=1)  # unused joints at the hip
    world32[:, H36M32_TO_17] = world17
    positions_3d, positions_2d = {}, {}
    for subject, action, frames in (("S1", "Walking 1", 128), ("S9", "Directions", 130)):
        positions_3d[subject] = {action: world32[:frames]}
        cameras = []
        for camera, (orientation, position_mm) in enumerate(EXTRINSICS[subject]):
            cam = _qrot_inverse(orientation, world17 - np.asarray(position_mm) / 1000.0)  # (130, 17, 3) metres
            cameras.append(project(cam, INTRINSICS_H36M[camera]).astype(np.float32))  # 2D longer than S1's mocap
        positions_2d[subject] = {action: cameras}
    metadata = {
        "layout_name": "h36m",
        "num_joints": 17,
        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
    }
    np.savez_compressed(tmp_path / "data_3d_h36m.npz", positions_3d=positions_3d)
    np.savez_compressed(tmp_path / "data_2d_h36m_gt.npz", positions_2d=positions_2d, metadata=metadata)
    return tmp_path


def test_h36m_splits_projection_and_subsampling(h36m_dir):
    out = convert_h36m(h36m_dir)
    train, test = out["train"], out["test"]
    _assert_schema(train, {"keypoints_2d", "intrinsics", "take", "activity"})
    _assert_schema(test, {"keypoints_2d", "keypoints_3d", "camera_elevation_deg", "intrinsics", "take", "activity"})
    assert len(train) == 4 * 128  # 2D cut to the mocap length, every frame
    assert len(test) == 4 * 3  # frames 0, 64, 128 of each camera
    arrays = pose_arrays(test, ["keypoints_2d", "keypoints_3d", "camera_elevation_deg", "intrinsics", "take"])
    kp3 = arrays["keypoints_3d"]
    np.testing.assert_allclose(project(kp3, arrays["intrinsics"]), arrays["keypoints_2d"], atol=0.05)
    assert (kp3[..., 2] > 1000).all()  # in front of the camera
    assert (arrays["keypoints_2d"] > 0).all() and (arrays["keypoints_2d"] < 1000).all()  # in the image
    assert (kp3[:, HEAD, 1] < kp3[:, HIP, 1]).all()  # head above hip (y down)
    assert arrays["camera_elevation_deg"].min() > 8 and arrays["camera_elevation_deg"].max() < 18  # ~1.5 m high
    assert arrays["take"][0] == "S9/Directions/54138969" and set(pose_arrays(train, "activity")["activity"]) == {
        "Walking"
    }
    # every 64th frame: the third row of camera 0 is frame 128 (the test 2D file holds the projections)
    positions_2d = read_npz_member(h36m_dir / "data_2d_h36m_gt.npz", "positions_2d")
    np.testing.assert_allclose(arrays["keypoints_2d"][2], positions_2d["S9"]["Directions"][0][128], atol=1e-3)
    # the left hip is Human3.6M's mocap joint 6, on the left of the right hip seen from the front
    assert H36M32_TO_17[LHIP] == 6 and H36M32_TO_17[RHIP] == 1


def test_h36m_rejects_wrong_layout_and_code(tmp_path, h36m_dir):
    np.savez(tmp_path / "data_3d_h36m.npz", positions=np.zeros((2, 32, 3)))
    (tmp_path / "data_2d_h36m_gt.npz").write_bytes((h36m_dir / "data_2d_h36m_gt.npz").read_bytes())
    with pytest.raises(ValueError, match="positions_3d"):
        convert_h36m(tmp_path)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d={"S9": {"Walking": Exploit()}})
    with pytest.raises(ForbiddenGlobalError, match="system"):
        convert_h36m(tmp_path)
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------------------
# MPI-INF-3DHP test set (MATLAB v5 and v7.3)
# ----------------------------------------------------------------------------------------------------------


def _write_mat_v73(path: Path, fields: dict[str, np.ndarray]) -> None:
    """A MATLAB v7.3 file: HDF5 with MATLAB's 512-byte header; arrays stored with MATLAB's axes reversed."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as mat:
        for name, matlab_array in fields.items():
            mat.create_dataset(name, data=np.asarray(matlab_array, dtype=np.float64).transpose())
            mat[name].attrs["MATLAB_class"] = np.bytes_("double")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    with open(path, "r+b") as file:
        file.write(header.ljust(116) + b"\0" * 8 + b"\x00\x02" + b"IM")


@pytest.fixture
def threedhp_dir(tmp_path, bench) -> Path:
    """TS1 as MATLAB v5 (40 frames), TS5 as v7.3 (30 frames); every 4th frame invalid."""
    scipy_io = pytest.importorskip("scipy.io")
    for seq, frames, writer in (("TS1", 40, "v5"), ("TS5", 30, "v73")):
        ours = bench["keypoints_3d"][:frames]
        annot3 = np.empty_like(ours)
        annot3[:, THREEDHP_TO_OURS] = ours  # back to 3DHP's joint order
        annot2 = project(annot3, INTRINSICS_3DHP[seq])
        valid = (np.arange(frames) % 4 != 3).astype(np.float64)
        matlab = {  # MATLAB's axis order: (2, 17, 1, F), (3, 17, 1, F), (1, F)
            "annot2": annot2[:, None].transpose(),
            "annot3": annot3[:, None].transpose(),
            "univ_annot3": 0.9 * annot3[:, None].transpose(),
            "valid_frame": valid[None],
            "activity_annotation": (1 + np.arange(frames) % 7)[None].astype(np.float64),
        }
        (tmp_path / seq).mkdir()
        if writer == "v5":
            scipy_io.savemat(tmp_path / seq / "annot_data.mat", matlab)
        else:
            _write_mat_v73(tmp_path / seq / "annot_data.mat", matlab)
    return tmp_path


def test_3dhp_both_mat_formats(threedhp_dir, bench):
    test = convert_3dhp(threedhp_dir)["test"]
    _assert_schema(test, {"keypoints_2d", "keypoints_3d", "intrinsics", "take", "activity"})
    arrays = pose_arrays(test, ["keypoints_2d", "keypoints_3d", "intrinsics", "take", "activity"])
    takes = arrays["take"]
    assert (takes == "TS1").sum() == 30 and (takes == "TS5").sum() == 23  # valid frames only
    kept = np.flatnonzero(np.arange(40) % 4 != 3)
    np.testing.assert_allclose(arrays["keypoints_3d"][takes == "TS1"], bench["keypoints_3d"][kept], atol=1e-3)
    np.testing.assert_allclose(project(arrays["keypoints_3d"], arrays["intrinsics"]), arrays["keypoints_2d"], atol=1e-2)
    kp3 = arrays["keypoints_3d"]
    assert (kp3[:, HEAD, 1] < kp3[:, NECK_NOSE, 1]).all() and (kp3[:, NECK_NOSE, 1] < kp3[:, HIP, 1]).all()
    np.testing.assert_allclose(arrays["intrinsics"][takes == "TS5"][0], [1683.98346, 1683.98346, 939.85754, 560.14074])
    assert arrays["activity"][0] == "standing_walking" and arrays["activity"][1] == "exercising"
    universal = pose_arrays(convert_3dhp(threedhp_dir, universal=True)["test"], "keypoints_3d")["keypoints_3d"]
    np.testing.assert_allclose(universal, 0.9 * kp3, rtol=1e-5)


def test_3dhp_missing_field(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    (tmp_path / "TS2").mkdir()
    scipy_io.savemat(tmp_path / "TS2" / "annot_data.mat", {"annot2": np.zeros((2, 17, 1, 3))})
    with pytest.raises(ValueError, match="annot3"):
        convert_3dhp(tmp_path)
    with pytest.raises(ValueError, match="TS1"):
        convert_3dhp(tmp_path / "TS2")


# ----------------------------------------------------------------------------------------------------------
# 3DPW
# ----------------------------------------------------------------------------------------------------------


def _smpl24(ours: np.ndarray) -> np.ndarray:
    """A plausible SMPL joint set (..., 24, 3) whose mapping back gives ``ours`` (head = 2 nn - thorax)."""
    j = {name: ours[..., i, :] for i, name in enumerate(JOINT_NAMES)}
    mid = lambda a, b: (a + b) / 2  # noqa: E731
    smpl = [
        j["hip"],
        j["lhip"],
        j["rhip"],
        mid(j["hip"], j["spine"]),
        j["lknee"],
        j["rknee"],
        j["spine"],
        j["lankle"],
        j["rankle"],
        mid(j["spine"], j["thorax"]),
        j["lankle"] + 50,
        j["rankle"] + 50,
        j["thorax"],
        mid(j["thorax"], j["lshoulder"]),
        mid(j["thorax"], j["rshoulder"]),
        j["neck_nose"],
        j["lshoulder"],
        j["rshoulder"],
        j["lelbow"],
        j["relbow"],
        j["lwrist"],
        j["rwrist"],
        j["lwrist"],
        j["rwrist"],
    ]
    return np.stack(smpl, axis=-2)


def _write_3dpw_sequence(path: Path, bench, rows: slice, world_rotation: np.ndarray, name: str) -> None:
    """Two actors seen by the bench cameras of ``rows``, in a world rotated by ``world_rotation`` from y-up."""
    world = _world_y_up(bench)[rows]  # (F, 17, 3) mm, y up
    frames = len(world)
    ours = world.copy()
    ours[:, HEAD] = 2 * ours[:, NECK_NOSE] - ours[:, THORAX]  # what the converter derives
    rotation = bench["camera_rotation"][rows] @ world_rotation.T  # world' -> camera
    cam_poses = np.tile(np.eye(4), (frames, 1, 1))
    cam_poses[:, :3, :3] = rotation
    cam_poses[:, :3, 3] = (
        -np.einsum("nij,nj->ni", bench["camera_rotation"][rows], bench["camera_center_mm"][rows]) / 1e3
    )
    actor2 = ours + np.array([300.0, 0.0, 0.0])
    data = {
        "sequence": name,
        "jointPositions": [(_smpl24(a) @ world_rotation.T / 1000.0).reshape(frames, 72) for a in (ours, actor2)],
        "cam_poses": cam_poses,
        "cam_intrinsics": np.array([[1145.0, 0, 500.0], [0, 1145.0, 500.0], [0, 0, 1]]),
        "campose_valid": [np.ones(frames, bool), np.arange(frames) % 2 == 0],
        "betas": [np.zeros(10), np.zeros(10)],
        "genders": ["m", "f"],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        pickle.dump(data, file, protocol=2)


@pytest.fixture
def threedpw_dir(tmp_path, bench) -> Path:
    z_up = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # y-up world -> z-up world
    _write_3dpw_sequence(tmp_path / "sequenceFiles/train/a.pkl", bench, slice(0, 10), np.eye(3), "courtyard_hug_00")
    _write_3dpw_sequence(tmp_path / "sequenceFiles/test/b.pkl", bench, slice(10, 30), z_up, "downtown_walkUphill_00")
    return tmp_path


def test_3dpw_camera_projection_and_elevation(threedpw_dir, bench):
    out = convert_3dpw(threedpw_dir)
    assert set(out) == {"train", "test"}
    _assert_schema(out["train"], {"keypoints_2d", "intrinsics", "take", "activity"})
    _assert_schema(
        out["test"], {"keypoints_2d", "keypoints_3d", "camera_elevation_deg", "intrinsics", "take", "activity"}
    )
    assert len(out["train"]) == 10 + 5 and len(out["test"]) == 20 + 10  # valid (actor, frame) rows
    arrays = pose_arrays(out["test"], ["keypoints_2d", "keypoints_3d", "camera_elevation_deg", "take", "activity"])
    first = slice(0, 20)  # actor 0, every frame (its world is z up: found by the auto up axis)
    body = [i for i in range(17) if i != HEAD]
    np.testing.assert_allclose(arrays["keypoints_3d"][first][:, body], bench["keypoints_3d"][10:30][:, body], atol=1e-3)
    np.testing.assert_allclose(arrays["keypoints_2d"][first][:, body], bench["keypoints_2d"][10:30][:, body], atol=1e-3)
    np.testing.assert_allclose(arrays["camera_elevation_deg"][first], bench["camera_elevation_deg"][10:30], atol=1e-3)
    kp3 = arrays["keypoints_3d"]
    assert (kp3[:, HEAD, 1] < kp3[:, NECK_NOSE, 1]).all() and (kp3[:, NECK_NOSE, 1] < kp3[:, HIP, 1]).all()
    assert arrays["take"][0] == "downtown_walkUphill_00/actor0" and arrays["take"][-1].endswith("actor1")
    assert arrays["activity"][0] == "walkUphill"
    forced = pose_arrays(convert_3dpw(threedpw_dir, world_up="+y")["test"], "camera_elevation_deg")
    assert not np.allclose(forced["camera_elevation_deg"], arrays["camera_elevation_deg"])


def test_3dpw_restricted_unpickler_and_layout(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "sequenceFiles" / "test"
    folder.mkdir(parents=True)
    (folder / "evil.pkl").write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(pickle.UnpicklingError, match="os.system"):
        convert_3dpw(tmp_path)
    assert not marker.exists()
    with open(folder / "evil.pkl", "wb") as file:
        pickle.dump({"sequence": "x", "jointPositions": [], "cam_intrinsics": np.eye(3), "campose_valid": []}, file, 2)
    with pytest.raises(ValueError, match="cam_poses"):
        convert_3dpw(tmp_path)


# ----------------------------------------------------------------------------------------------------------
# COCO
# ----------------------------------------------------------------------------------------------------------


def test_coco_real_file_and_cli(tmp_path, monkeypatch, capsys):
    path = _shared("data/coco/person_keypoints_val2017_single_person.json")
    train = convert_coco(path)["train"]
    _assert_schema(train, {"keypoints_2d", "confidence"})
    assert 500 < len(train) <= 987
    out = tmp_path / "coco"
    monkeypatch.setattr(sys, "argv", ["convert_coco.py", str(path), str(out)])
    assert convert_coco_module.main() == 0
    assert "train" in capsys.readouterr().out and len(load_poses(out)) == len(train)
    monkeypatch.setattr(sys, "argv", ["convert_coco.py", str(tmp_path / "missing.json"), str(out)])
    with pytest.raises(SystemExit) as exit_info:
        convert_coco_module.main()
    assert exit_info.value.code == 2 and "no such file" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------
# BVH
# ----------------------------------------------------------------------------------------------------------

BVH_FILES = ("cmu_iclone_002_01.bvh", "bandai_dataset-1_walk_normal_001.bvh", "bandai_dataset-1_kick_normal_001.bvh")


@pytest.mark.parametrize("name", BVH_FILES)
def test_bvh_real_takes_look_human(name):
    motion = bvh.read_bvh(_shared(f"bvh/{name}"))
    rig = bvh.detect_rig(motion)
    assert rig == ("cmu_iclone" if name.startswith("cmu") else "bandai")
    joints = bvh.to_h36m17(motion)  # (F, 17, 3) mm, y up
    assert joints.shape == (motion.num_frames, 17, 3)
    lengths = np.stack([np.linalg.norm(joints[:, a] - joints[:, b], axis=-1) for a, b in BONES], axis=1)
    relative_std = lengths.std(axis=0) / lengths.mean(axis=0)  # (16,)
    across_joint = [BONES.index(bone) for bone in ((THORAX, NECK_NOSE), (THORAX, 11), (THORAX, 14))]
    assert (np.delete(relative_std, across_joint) < 0.01).all()  # bones: rigid
    assert (relative_std[across_joint] < 0.03).all()  # links across the neck / clavicle joints: nearly
    ankle_height = joints[:, [RANKLE, LANKLE], 1].min(axis=1)  # (F,) the lower ankle
    assert np.mean(ankle_height - ankle_height.min() < 50.0) > 0.9  # a foot on the floor in most frames
    assert (joints[:, HEAD, 1] > joints[:, HIP, 1] + 300).all()  # upright
    height = joints[:, HEAD, 1] - ankle_height
    assert 1350 < height.max() < 2000, height.max()  # head top to ankle (the Bandai actor is ~1.5 m tall)
    hip_xz = joints[:, HIP][:, [0, 2]]
    lhip_side = np.cross(joints[:, LHIP] - joints[:, RHIP], joints[:, THORAX] - joints[:, HIP])  # (F, 3)
    if "walk" in name or name.startswith("cmu"):  # walking takes: moving forward, left hip on the left
        travel = hip_xz[-1] - hip_xz[0]
        assert np.linalg.norm(travel) > 1000
        assert np.mean(lhip_side[:, [0, 2]] @ travel > 0) > 0.9  # (left - right) x up points forward


def test_bvh_matches_shipped_cmu_mocap():
    motion = bvh.read_bvh(_shared("bvh/cmu_iclone_002_01.bvh"))
    with np.load(_shared("data/mocap/cmu_h36m17.npz")) as npz:
        take = npz["take"] == "002_01"
        shipped, frames = npz["positions"][take], npz["frame_index"][take]
    ours = bvh.to_h36m17(motion)[frames]
    body = [i for i in range(17) if i not in (NECK_NOSE, HEAD)]  # the face points: ours without a 2 cm side shift
    np.testing.assert_allclose((ours - ours[:, :1])[:, body], (shipped - shipped[:, :1])[:, body], atol=0.05)
    face = [NECK_NOSE, HEAD]
    np.testing.assert_allclose((ours - ours[:, :1])[:, face], (shipped - shipped[:, :1])[:, face], atol=25.0)


def test_convert_bvh_virtual_views():
    paths = [_shared(f"bvh/{name}") for name in BVH_FILES[:2]]
    frames = [bvh.read_bvh(p).num_frames for p in paths]
    train = convert_bvh(paths, views_per_pose=2, seed=1, frame_step=2)["train"]
    _assert_schema(train, {"keypoints_2d", "intrinsics", "take"})
    assert len(train) == 2 * sum((f + 1) // 2 for f in frames)
    evaluation = convert_bvh(paths[:1], split="validation", with_3d=True)["validation"]
    _assert_schema(evaluation, {"keypoints_2d", "keypoints_3d", "camera_elevation_deg", "intrinsics", "take"})
    arrays = pose_arrays(evaluation, ["keypoints_2d", "keypoints_3d", "intrinsics", "camera_elevation_deg"])
    np.testing.assert_allclose(project(arrays["keypoints_3d"], arrays["intrinsics"]), arrays["keypoints_2d"], atol=0.05)
    assert (arrays["keypoints_3d"][:, HEAD, 1] < arrays["keypoints_3d"][:, HIP, 1]).all()
    assert abs(np.mean(arrays["camera_elevation_deg"]) - 12.0) < 2.0


def test_bvh_parser_rotation_orders_and_errors():
    text = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
1 2 3 0 0 0 0 0 0
0 0 0 90 0 0 90 0 0
"""
    motion = bvh.parse_bvh(text)
    assert motion.names == ("Hips", "Chest", "Chest_End") and motion.parents.tolist() == [-1, 0, 1]
    positions, _ = bvh.forward_kinematics(motion)
    np.testing.assert_allclose(positions[0], [[1, 2, 3], [1, 12, 3], [1, 17, 3]], atol=1e-9)
    np.testing.assert_allclose(positions[1], [[0, 0, 0], [0, 10, 0], [5, 10, 0]], atol=1e-9)  # Ry(90) @ Rx(90)
    with pytest.raises(ValueError, match="motion rows"):
        bvh.parse_bvh(text.replace("Frames: 2", "Frames: 3"))
    with pytest.raises(ValueError, match="no known rig"):
        bvh.detect_rig(motion)
