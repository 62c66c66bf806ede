"""ElePosePipeline, the keypoint readers and `elepose lift`, on a tiny model fitted to real ElePose-Bench poses."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from elepose_hf import ElePoseConfig, ElePoseLifter, PoseFlowConfig, PoseFlowPrior
from elepose_hf.cli import main
from elepose_hf.geometry import rotate, rotation_x
from elepose_hf.keypoint_io import KeypointSet, read_coco_json, read_csv, read_keypoints, read_npz, read_openpose
from elepose_hf.model_dir import save_model_dir
from elepose_hf.modeling_elepose import ElePoseLifterOutput
from elepose_hf.pipeline import DEFAULT_MODEL_DIR, ElePosePipeline, body_height
from elepose_hf.skeleton import JOINT_NAMES, to_h36m17
from elepose_hf.training import dataset_scale

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BENCH = SHARED / "data" / "bench" / "val.npz"
COCO = SHARED / "data" / "coco" / "person_keypoints_val2017_single_person.json"
NUM_POSES = 48

# Index of each COCO-17 joint in MediaPipe-33 and OpenPose BODY_25.
COCO_IN_MEDIAPIPE = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
COCO_IN_OPENPOSE = [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11]


@pytest.fixture(scope="module")
def bench() -> dict[str, np.ndarray]:
    if not BENCH.is_file():
        pytest.skip(f"the shared data folder {SHARED} (ElePose-Bench val.npz) is absent")
    with np.load(BENCH) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def model_dir(bench, tmp_path_factory) -> Path:
    """A tiny lifter + flow whose PCA is fitted on the real bench poses (the networks stay untrained)."""
    torch.manual_seed(0)
    keypoints = torch.from_numpy(bench["keypoints_2d"])
    scale = dataset_scale(keypoints)
    lifter = ElePoseLifter(
        ElePoseConfig(hidden_size=32, normalization_scale=scale, elevation_mean=0.2, elevation_std=0.1)
    )
    flow = PoseFlowPrior(PoseFlowConfig(hidden_size=16, num_blocks=2, normalization_scale=scale))
    flow.fit_pca(flow.normalize(keypoints))
    directory = tmp_path_factory.mktemp("model") / "tiny-elepose"
    save_model_dir(lifter, flow, directory)
    return directory


@pytest.fixture(scope="module")
def pipeline(model_dir) -> ElePosePipeline:
    return ElePosePipeline.from_pretrained(model_dir, device="cpu")


@pytest.fixture(scope="module")
def poses(bench) -> np.ndarray:
    return bench["keypoints_2d"][:NUM_POSES]


@pytest.fixture(scope="module")
def coco_complete() -> np.ndarray:
    """Real COCO annotations with all 17 keypoints labelled: ``(N, 17, 2)`` pixels."""
    if not COCO.is_file():
        pytest.skip(f"the shared COCO file {COCO} is absent")
    keypoints = read_coco_json(COCO)
    complete = (keypoints.confidence > 0).all(axis=1)
    return keypoints.keypoints[complete][:16]


def _assert_finite(result) -> None:
    for name, values in result.to_arrays().items():
        if values.dtype.kind == "f":
            assert np.isfinite(values).all(), name


def test_batch_and_single_pose_arrays(pipeline, poses):
    result = pipeline(poses)
    n = len(poses)
    assert len(result) == n
    assert result.keypoints_3d.shape == result.keypoints_3d_metric.shape == result.keypoints_3d_upright.shape
    assert result.keypoints_3d.shape == (n, 17, 3) and result.keypoints_2d.shape == (n, 17, 2)
    assert result.camera_elevation_deg.shape == result.nll.shape == result.plausibility.shape == (n,)
    assert result.missing_joints.shape == (n, 17) and not result.missing_joints.any()
    _assert_finite(result)
    np.testing.assert_array_equal(result.keypoints_2d, poses)
    np.testing.assert_allclose(result.keypoints_3d[:, 0], 0.0, atol=1e-6)  # root-relative
    single = pipeline(poses[3])  # (17, 2)
    assert len(single) == 1
    np.testing.assert_allclose(single.keypoints_3d[0], result.keypoints_3d[3], atol=1e-5)
    first = pipeline(poses[0])  # the first pose draws the same virtual views alone as in a batch
    np.testing.assert_allclose(first.nll[0], result.nll[0], rtol=1e-5)


def test_nll_is_seeded_and_independent_of_batch_size(pipeline, poses):
    first = pipeline(poses, seed=3)
    assert first.nll.shape == (len(poses),)
    np.testing.assert_array_equal(first.nll, pipeline(poses, seed=3).nll)
    np.testing.assert_allclose(first.nll, pipeline(poses, seed=3, batch_size=7).nll, rtol=1e-5)
    assert not np.allclose(first.nll, pipeline(poses, seed=4).nll)
    skipped = pipeline(poses, num_projections=0)
    assert np.isnan(skipped.nll).all() and np.isnan(skipped.plausibility).all()
    assert all(record["nll"] is None for record in skipped.to_records())


def test_plausibility_is_monotone_decreasing_in_nll(pipeline, poses):
    grid = np.linspace(-200.0, 400.0, 2001)
    values = pipeline.plausibility(grid)
    assert np.all(np.diff(values) <= 0) and values[0] > 0.99 and values[-1] < 0.01
    assert np.all((values > 0) & (values < 1))
    result = pipeline(poses)
    order = np.argsort(result.nll)
    assert np.all(np.diff(result.plausibility[order]) <= 0)


def test_metric_output_has_the_requested_body_height(pipeline, poses):
    result = pipeline(poses, body_height_m=1.62)
    heights = body_height(torch.from_numpy(result.keypoints_3d_metric)).numpy()
    np.testing.assert_allclose(heights, 1.62, rtol=1e-5)
    ratio = result.keypoints_3d_metric[:, 1:] / result.keypoints_3d[:, 1:]  # one scale per pose
    np.testing.assert_allclose(ratio, ratio[:, :1, :1] * np.ones_like(ratio), rtol=1e-4)


def test_levelling_by_the_true_elevation_puts_gravity_on_y(bench):
    """``rotation_x(-elevation)`` turns the bench camera's world-up direction into -y (up to the camera roll)."""
    rotation = torch.from_numpy(bench["camera_rotation"][:500]).double()  # world (y up) -> camera
    elevation = torch.from_numpy(np.radians(bench["camera_elevation_deg"][:500])).double()
    up = rotate(rotation[:, :, 1][:, None], rotation_x(-elevation))[:, 0]  # world up in the levelled frame (N, 3)
    angle = torch.rad2deg(torch.arccos((-up[:, 1]).clamp(max=1.0)))
    assert angle.max() < 6.0  # camera roll is N(0, 1.5 deg)


class _KnownLifter(torch.nn.Module):
    """Stands in for the lifter: returns the bench's true 3D poses and elevations, in order."""

    def __init__(self, config: ElePoseConfig, keypoints_3d: torch.Tensor, elevation: torch.Tensor):
        super().__init__()
        self.config = config
        self.keypoints_3d, self.elevation = keypoints_3d, elevation

    def forward(self, keypoints_2d: torch.Tensor) -> ElePoseLifterOutput:
        assert len(keypoints_2d) == len(self.keypoints_3d)
        return ElePoseLifterOutput(keypoints_3d=self.keypoints_3d, depth=None, elevation=self.elevation)


def test_upright_pose_has_gravity_along_y(model_dir, bench, poses):
    """With the true 3D pose and elevation, the upright output's y is the world height (up to roll and scale)."""
    pipeline = ElePosePipeline.from_pretrained(model_dir, device="cpu")
    camera_3d = torch.from_numpy(bench["keypoints_3d"][:NUM_POSES]).double()
    root_relative = (camera_3d - camera_3d[:, :1]) / 1000.0
    elevation = torch.from_numpy(np.radians(bench["camera_elevation_deg"][:NUM_POSES]))
    pipeline.lifter = _KnownLifter(pipeline.lifter.config, root_relative.float(), elevation.float())
    result = pipeline(poses, body_height_m=1.8)
    np.testing.assert_allclose(result.camera_elevation_deg, bench["camera_elevation_deg"][:NUM_POSES], rtol=1e-5)
    rotation = torch.from_numpy(bench["camera_rotation"][:NUM_POSES]).double()
    world = rotate(root_relative, rotation.transpose(-1, -2)).numpy()  # (N, 17, 3) world axes, y up
    metres_per_unit = 1.8 / body_height(root_relative).numpy()[:, None]
    height = -result.keypoints_3d_upright[..., 1]  # y points down
    error = np.abs(height - world[..., 1] * metres_per_unit)
    assert error.max() < 0.1  # roll of a few degrees over a 1 m lever
    np.testing.assert_allclose(
        result.keypoints_3d_upright,
        result.keypoints_3d_metric @ rotation_x(-elevation).numpy().transpose(0, 2, 1),
        atol=1e-5,
    )


def test_missing_joints_are_completed_and_flagged(pipeline, poses):
    damaged = poses.copy()
    confidence = np.ones(poses.shape[:2], dtype=np.float32)
    confidence[0, [2, 3]] = 0.0  # right leg by confidence
    damaged[1, [0, 13]] = np.nan  # root and left wrist by NaN
    confidence[2, [9, 10, 14, 15, 16]] = 0.0  # head and right arm
    result = pipeline(damaged, confidence=confidence)
    _assert_finite(result)
    expected = np.zeros((len(poses), 17), bool)
    expected[0, [2, 3]] = expected[1, [0, 13]] = expected[2, [9, 10, 14, 15, 16]] = True
    np.testing.assert_array_equal(result.missing_joints, expected)
    np.testing.assert_array_equal(result.keypoints_2d[~expected], poses[~expected])  # observed joints untouched
    size = np.linalg.norm(poses[:3, 10] - poses[:3, 0], axis=-1)[:, None]  # root-to-head distance, pixels
    error = np.linalg.norm(result.keypoints_2d[:3] - poses[:3], axis=-1) / size
    assert error[expected[:3]].max() < 0.6  # a plausible place, not garbage
    np.testing.assert_allclose(result.keypoints_3d[1, 0], 0.0, atol=1e-6)  # the completed root is the origin


def test_too_few_joints_are_refused_or_skipped(pipeline, poses):
    confidence = np.ones(poses.shape[:2], dtype=np.float32)
    confidence[[4, 9], :10] = 0.0  # 7 observed joints
    with pytest.raises(ValueError, match=r"fewer than 8 .* rows 4, 9"):
        pipeline(poses, confidence=confidence)
    result = pipeline(poses, confidence=confidence, skip_incomplete=True)
    assert len(result) == len(poses) - 2 and 4 not in result.index and 9 not in result.index
    full = pipeline(poses)
    np.testing.assert_allclose(result.keypoints_3d, full.keypoints_3d[result.index], atol=1e-5)


def test_intrinsics_only_matter_through_the_aspect_ratio(pipeline, poses):
    plain = pipeline(poses, num_projections=0)
    centred = pipeline(poses, intrinsics=[1145.0, 1145.0, 500.0, 500.0], num_projections=0)
    np.testing.assert_allclose(centred.keypoints_3d, plain.keypoints_3d, atol=1e-5)
    squeezed = pipeline(poses * [1.0, 0.5], intrinsics=[1000.0, 500.0, 0.0, 0.0], num_projections=0)
    np.testing.assert_allclose(squeezed.keypoints_3d, plain.keypoints_3d, atol=1e-4)
    np.testing.assert_allclose(squeezed.keypoints_2d, poses * [1.0, 0.5], rtol=1e-6)


def test_coco_mediapipe_openpose_and_vitpose_inputs_agree(pipeline, coco_complete):
    reference = pipeline(coco_complete, keypoint_format="coco17")
    _assert_finite(reference)
    n = len(coco_complete)
    mediapipe = np.random.default_rng(0).uniform(0, 500, (n, 33, 2)).astype(np.float32)
    mediapipe[:, COCO_IN_MEDIAPIPE] = coco_complete
    openpose = np.zeros((n, 25, 3), dtype=np.float32)  # x, y, confidence
    openpose[:, COCO_IN_OPENPOSE, :2] = coco_complete
    openpose[:, 1, :2] = coco_complete[:, 5:7].mean(axis=1)  # neck
    openpose[:, 8, :2] = coco_complete[:, 11:13].mean(axis=1)  # mid-hip
    openpose[:, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18], 2] = 0.9
    vitpose = [
        [
            {"keypoints": torch.from_numpy(p), "scores": torch.full((17,), 0.8), "labels": torch.arange(17)}
            for p in group
        ]
        for group in (coco_complete[:5], coco_complete[5:])
    ]
    for other in (
        pipeline(mediapipe),
        pipeline(openpose),
        pipeline(vitpose),
        pipeline(vitpose[0] + vitpose[1]),
    ):
        np.testing.assert_allclose(other.keypoints_3d, reference.keypoints_3d, atol=1e-4)
        np.testing.assert_allclose(other.nll, reference.nll, rtol=1e-4)
    assert pipeline(vitpose).names[:6] == [f"image0/person{j}" for j in range(5)] + ["image1/person0"]


def test_real_coco_file(pipeline):
    if not COCO.is_file():
        pytest.skip(f"the shared COCO file {COCO} is absent")
    keypoints = read_keypoints(COCO)
    assert keypoints.keypoint_format == "coco17" and len(keypoints) == 987
    _, confidence = to_h36m17(keypoints.keypoints, keypoints.confidence, "coco17")
    enough = (confidence > 0).sum(axis=1) >= 8
    result = pipeline(keypoints, skip_incomplete=True)
    _assert_finite(result)
    np.testing.assert_array_equal(result.index, np.flatnonzero(enough))
    assert result.missing_joints.any()
    assert result.names == [keypoints.names[i] for i in result.index]


def test_npz_reader_with_intrinsics(pipeline, bench, tmp_path):
    path = tmp_path / "poses.npz"
    np.savez(path, keypoints_2d=bench["keypoints_2d"][:10], intrinsics=bench["intrinsics"], image_size=[1000, 1000])
    keypoints = read_npz(path)
    assert keypoints.keypoint_format == "h36m17" and keypoints.image_size == (1000, 1000)
    result = pipeline(keypoints)
    direct = pipeline(bench["keypoints_2d"][:10], intrinsics=bench["intrinsics"])
    np.testing.assert_allclose(result.keypoints_3d, direct.keypoints_3d)


def _openpose_frame(people: np.ndarray) -> dict:
    return {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": p.ravel().tolist()} for p in people]}


def test_openpose_folder(pipeline, coco_complete, tmp_path):
    openpose = np.zeros((3, 25, 3), dtype=np.float32)
    openpose[:, COCO_IN_OPENPOSE, :2] = coco_complete[:3]
    openpose[:, COCO_IN_OPENPOSE, 2] = 0.7
    openpose[:, 8] = [*coco_complete[:3, 11:13].mean(axis=1).T, np.full(3, 0.7)]
    # the neck (1) is left undetected: thorax and spine become missing joints
    folder = tmp_path / "openpose"
    folder.mkdir()
    (folder / "clip_000000000000_keypoints.json").write_text(json.dumps(_openpose_frame(openpose[:2])))
    (folder / "clip_000000000001_keypoints.json").write_text(json.dumps(_openpose_frame(openpose[:0])))
    (folder / "clip_000000000002_keypoints.json").write_text(json.dumps(_openpose_frame(openpose[2:])))
    keypoints = read_openpose(folder)
    assert keypoints.keypoint_format == "openpose25" and len(keypoints) == 3
    assert keypoints.names == ["clip_000000000000_keypoints/person0", "clip_000000000000_keypoints/person1"] + [
        "clip_000000000002_keypoints/person0"
    ]
    result = pipeline(keypoints)
    _assert_finite(result)
    assert result.missing_joints[:, [7, 8]].all() and result.missing_joints.sum() == 6
    single = read_keypoints(folder / "clip_000000000002_keypoints.json")
    np.testing.assert_array_equal(single.keypoints, keypoints.keypoints[2:])


@pytest.mark.parametrize("layout", ["indexed", "named"])
def test_csv_reader(pipeline, poses, layout, tmp_path):
    if layout == "indexed":
        header = [f"{axis}{j}" for j in range(17) for axis in "xy"]
    else:
        header = [f"{name}_{axis}" for name in JOINT_NAMES for axis in "xy"]
    rows = [",".join(f"{v:.3f}" for v in pose.ravel()) for pose in poses[:5]]
    rows[1] = rows[1].split(",", 2)[2]  # blank root: x and y cells empty
    rows[1] = ",," + rows[1]
    path = tmp_path / f"{layout}.csv"
    path.write_text("name," + ",".join(header) + "\n" + "\n".join(f"frame{i},{row}" for i, row in enumerate(rows)))
    keypoints = read_csv(path)
    assert keypoints.keypoint_format == "h36m17" and keypoints.names == [f"frame{i}" for i in range(5)]
    np.testing.assert_array_equal(keypoints.confidence[1, 0], 0.0)
    result = pipeline(keypoints)
    _assert_finite(result)
    assert result.missing_joints[1, 0] and result.missing_joints.sum() == 1
    np.testing.assert_allclose(result.keypoints_2d[0], poses[0], atol=1e-3)


def test_csv_with_confidence_columns(tmp_path):
    path = tmp_path / "conf.csv"
    header = ",".join(f"x{j},y{j},c{j}" for j in range(25))
    path.write_text(header + "\n" + ",".join(["1.0,2.0,0.5"] * 24 + ["3.0,4.0,0"]) + "\n")
    keypoints = read_csv(path)
    assert keypoints.keypoint_format == "openpose25" and keypoints.keypoints.shape == (1, 25, 2)
    np.testing.assert_array_equal(keypoints.confidence[0, [0, 24]], [0.5, 0.0])


def test_bad_inputs_raise_clear_errors(pipeline, poses, tmp_path):
    with pytest.raises(ValueError, match="cannot detect the keypoint format of 20 joints"):
        pipeline(np.zeros((2, 20, 2)))
    with pytest.raises(ValueError, match="format 'coco17' has 17 joints"):
        pipeline(np.zeros((2, 25, 2)), keypoint_format="coco17")
    bad = tmp_path / "twenty.npz"
    np.savez(bad, keypoints_2d=np.zeros((3, 20, 2)))
    with pytest.raises(ValueError, match=f"{bad.name}.*20 joints"):
        read_keypoints(bad)
    no_key = tmp_path / "nokey.npz"
    np.savez(no_key, points=np.zeros((3, 17, 2)))
    with pytest.raises(ValueError, match="nokey.npz: no 'keypoints_2d'"):
        read_keypoints(no_key)
    for name in ("empty.csv", "empty.json", "empty.npz"):
        (tmp_path / name).write_text("")
        with pytest.raises(ValueError, match=name):
            read_keypoints(tmp_path / name)
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"annotations": [{"keypoints": [1.0] * 51}, {"keypoints": [1.0] * 50}]}))
    with pytest.raises(ValueError, match="short.json: annotation 1 has 50 keypoint values"):
        read_keypoints(short)
    header_only = tmp_path / "header.csv"
    header_only.write_text("x0,y0\n")
    with pytest.raises(ValueError, match="header.csv: has a header but no poses"):
        read_keypoints(header_only)
    with pytest.raises(ValueError, match="missing.npz: no such file"):
        read_keypoints(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="fewer than 8"):
        pipeline(poses[0], confidence=np.r_[np.ones(7), np.zeros(10)])
    with pytest.raises(ValueError, match="all observed joints at one point"):
        pipeline(np.ones((1, 17, 2)))


HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None


@pytest.mark.skipif(HAS_MEDIAPIPE, reason="the detector's dependencies are installed")
def test_image_without_detector_says_how_to_install(tmp_path):
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(ValueError, match=r"photo.jpg: .*pip install 'elepose-hf\[detector\]'"):
        read_keypoints(image)


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="the detector needs mediapipe (pip install 'elepose-hf[detector]')")
def test_image_through_the_detector(pipeline):
    image = SHARED / "data" / "images" / "sports2d_demo_frame.jpg"
    if not image.is_file():
        pytest.skip(f"the shared image {image} is absent")
    keypoints = read_keypoints(image)
    assert keypoints.keypoint_format == "mediapipe33" and keypoints.names == [f"{image.name}/person0"]
    result = pipeline(keypoints)
    assert len(result) == 1
    _assert_finite(result)


def test_default_model_and_hub_layout(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("elepose_hf.pipeline.DEFAULT_MODEL_DIR", tmp_path / "absent")
    with pytest.raises(ValueError, match="bundled model is not installed"):
        ElePosePipeline.from_pretrained()
    with pytest.raises(ValueError, match="cannot load an ElePose model"):
        ElePosePipeline.from_pretrained(tmp_path / "nothing-here")
    lifter, flow = ElePoseLifter.from_pretrained(model_dir), PoseFlowPrior.from_pretrained(model_dir, subfolder="flow")
    save_model_dir(lifter, flow, tmp_path / "repo" / "models" / "tiny")
    nested = ElePosePipeline.from_pretrained(tmp_path / "repo", device="cpu", subfolder="models/tiny")
    assert torch.equal(nested.flow.pca_mean, flow.pca_mean)


def test_keypoint_set_validates_its_fields():
    with pytest.raises(ValueError, match="confidence must have shape"):
        KeypointSet(np.zeros((2, 17, 2)), np.ones((2, 16)), "h36m17")
    with pytest.raises(ValueError, match="format 'openpose25' has 25 joints"):
        KeypointSet(np.zeros((2, 17, 2)), np.ones((2, 17)), "openpose25")


def test_cli_lift_npz_and_json(model_dir, bench, tmp_path, capsys):
    source = tmp_path / "input.npz"
    np.savez(source, keypoints_2d=bench["keypoints_2d"][:12])
    out_npz, out_json = tmp_path / "out.npz", tmp_path / "out.json"
    common = ["--model", str(model_dir), "--num-projections", "20", "--body-height", "1.6"]
    assert main(["lift", str(source), "--output", str(out_npz), *common]) == 0
    assert main(["lift", str(source), "--output", str(out_json), *common]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "12 poses" in lines[0] and "mean nll" in lines[0]
    with np.load(out_npz) as saved:
        assert saved["keypoints_3d"].shape == (12, 17, 3)
        assert saved["camera_elevation_deg"].shape == saved["nll"].shape == (12,)
        assert saved["missing_joints"].shape == (12, 17)
        np.testing.assert_allclose(body_height(torch.from_numpy(saved["keypoints_3d_metric"])), 1.6, rtol=1e-5)
        nll = saved["nll"]
    records = json.loads(out_json.read_text())
    assert len(records) == 12 and np.asarray(records[0]["keypoints_3d"]).shape == (17, 3)
    np.testing.assert_allclose([r["nll"] for r in records], nll, atol=1e-5)


def test_cli_lift_reports_errors(model_dir, tmp_path, capsys):
    assert main(["lift", str(tmp_path / "nothing.npz"), "--model", str(model_dir), "--output", "x.json"]) == 2
    assert "nothing.npz: no such file" in capsys.readouterr().err
    assert main(["lift", str(tmp_path / "nothing.npz"), "--model", str(model_dir), "--output", "out.txt"]) == 2
    assert "results are written as .npz or .json" in capsys.readouterr().err


def test_bundled_model_lifts_the_example_and_carries_its_card():
    pipeline = ElePosePipeline.from_pretrained(device="cpu")
    example = Path(__file__).resolve().parents[1] / "spaces_demo" / "examples" / "cmu_four_people.npz"
    result = pipeline(str(example), num_projections=20)
    assert result.keypoints_3d_upright.shape == (4, 17, 3) and np.isfinite(result.keypoints_3d_upright).all()
    assert np.isfinite(result.nll).all() and ((result.plausibility > 0) & (result.plausibility < 1)).all()
    heights = result.keypoints_3d_upright[:, 10, 1] - result.keypoints_3d_upright[:, [3, 6], 1].max(axis=1)
    assert (heights < -1.0).all()  # the head is well above the ankles (y points down) in the levelled pose
    card = (Path(__file__).resolve().parents[1] / "MODEL_CARD.md").read_text()
    assert (DEFAULT_MODEL_DIR / "README.md").read_text() == card
