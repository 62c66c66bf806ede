"""The Gradio demo's functions (spaces_demo/app.py), called directly on a tiny model: every upload kind, several
people per file, and bad uploads that must give a readable message instead of an exception."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")
pytest.importorskip("plotly")

import plotly.graph_objects as go  # noqa: E402
from conftest import tiny_lifter_and_flow  # noqa: E402

from elepose_hf.model_dir import save_model_dir  # noqa: E402
from elepose_hf.pipeline import ElePosePipeline  # noqa: E402
from spaces_demo import app  # noqa: E402

EXAMPLES = app.EXAMPLES_DIR
HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
# Source joint (Human3.6M index) of each COCO-17 / OpenPose BODY_25 joint; -1: none (written as unlabelled).
COCO_FROM_H36M = [9, -1, -1, -1, -1, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]
OPENPOSE_FROM_H36M = [9, 8, 14, 15, 16, 11, 12, 13, 0, 1, 2, 3, 4, 5, 6] + [-1] * 10


def save_tiny_model(directory: Path) -> Path:
    """The tiny model of ``conftest.tiny_lifter_and_flow`` as a model directory."""
    save_model_dir(*tiny_lifter_and_flow(), directory)
    return directory


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> ElePosePipeline:
    return ElePosePipeline.from_pretrained(save_tiny_model(tmp_path_factory.mktemp("model") / "tiny"), device="cpu")


@pytest.fixture(scope="module")
def h36m_poses() -> np.ndarray:
    """The four example poses ``(4, 17, 2)`` (pixels, Human3.6M order)."""
    with np.load(EXAMPLES / "cmu_four_people.npz") as npz:
        return npz["keypoints_2d"]


def _convert(poses: np.ndarray, sources: list[int]) -> np.ndarray:
    """``(N, J, 3)`` x, y, confidence in another format; joints without a source get confidence 0."""
    out = np.zeros((len(poses), len(sources), 3), dtype=np.float64)
    for target, source in enumerate(sources):
        if source >= 0:
            out[:, target, :2], out[:, target, 2] = poses[:, source], 1.0
    return out


def _assert_lifted(outputs, people: int, completed: bool = False) -> dict:
    """Checks ``lift_upload`` outputs of a good upload; returns the JSON result."""
    image, figure, text, json_path, lifted = outputs
    assert isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert isinstance(figure, go.Figure)
    assert any(isinstance(trace, go.Scatter3d) and trace.mode == "lines" for trace in figure.data)
    assert "Plausibility" in text and "NLL" in text and "Camera elevation" in text
    assert len(lifted.result) == people
    result = json.loads(Path(json_path).read_text())
    assert len(result["poses"]) == people and len(result["joint_names"]) == 17
    for pose in result["poses"]:
        assert np.isfinite(np.asarray(pose["keypoints_3d_upright"], dtype=float)).all()
        assert 0.0 <= pose["plausibility"] <= 1.0
        assert any(pose["missing_joints"]) == completed
    return result


def test_multi_person_npz(pipeline):
    outputs = app.lift_upload(pipeline, EXAMPLES / "cmu_four_people.npz")
    result = _assert_lifted(outputs, people=4)
    image, _, text, _, lifted = outputs
    assert image.shape[:2] == (500, 800)  # the file's 1600 x 1000 image at CANVAS_PX
    assert "walk" in text and "(person 1 of 4)" in text
    assert result["poses"][1]["name"].startswith("swordplay")
    image_2, figure_2, text_2 = app.show(lifted, 2)
    assert "(person 3 of 4)" in text_2 and not np.array_equal(image, image_2)
    np.testing.assert_allclose(figure_2.data[-2].x, lifted.result.keypoints_3d_upright[2, :, 0])
    # the page's upload handler: a person selector with one entry per person, shown for several people
    *_, selector, state = app._on_upload(pipeline, str(EXAMPLES / "cmu_four_people.npz"))
    assert selector["visible"] and len(selector["choices"]) == 4 and selector["value"] == 0
    assert "(person 2 of 4)" in app._on_person(1, state)[2]


def test_single_person_csv(pipeline):
    outputs = app.lift_upload(pipeline, EXAMPLES / "cmu_pose.csv")
    _assert_lifted(outputs, people=1)
    text = outputs[2]
    assert "CMU take" in text and "of 1" not in text and "Completed joints:** none" in text
    *_, selector, _ = app._on_upload(pipeline, str(EXAMPLES / "cmu_pose.csv"))
    assert not selector["visible"]


def test_coco_json_with_a_skipped_person(pipeline, h36m_poses, tmp_path):
    coco = _convert(h36m_poses[:2], COCO_FROM_H36M)
    coco[1, 5:, 2] = 0  # the second person shows only the nose and shoulders: too few joints, skipped
    annotations = [{"id": i, "image_id": 7, "keypoints": row.reshape(-1).tolist()} for i, row in enumerate(coco)]
    path = tmp_path / "people.json"
    path.write_text(json.dumps({"annotations": annotations}))
    outputs = app.lift_upload(pipeline, path)
    _assert_lifted(outputs, people=1, completed=True)  # COCO has no head joint: completed from eyes/ears (absent)
    text = outputs[2]
    assert "head" in text and "1 person(s) skipped" in text and "image7/ann1" in text


def test_openpose_json(pipeline, h36m_poses, tmp_path):
    people = [{"pose_keypoints_2d": row.reshape(-1).tolist()} for row in _convert(h36m_poses, OPENPOSE_FROM_H36M)]
    path = tmp_path / "frame_000.json"
    path.write_text(json.dumps({"version": 1.3, "people": people}))
    outputs = app.lift_upload(pipeline, path)
    _assert_lifted(outputs, people=4, completed=True)
    assert "frame_000/person0" in outputs[2]


@pytest.mark.skipif(HAS_MEDIAPIPE, reason="the detector is installed")
def test_photo_without_detector_says_so(pipeline):
    image, figure, text, json_path, lifted = app.lift_upload(pipeline, EXAMPLES / "sports2d_demo_frame.jpg")
    assert image is figure is json_path is lifted is None
    assert "detector" in text and "elepose-hf[detector]" in text
    page = app.build_demo(pipeline)
    assert any("not installed" in str(getattr(block, "value", "")) for block in page.blocks.values())


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="needs the detector: pip install 'elepose-hf[detector]'")
@pytest.mark.parametrize("photo", ["sports2d_demo_frame.jpg", "pose2sim_cam01_frame.jpg"])
def test_photo(pipeline, photo):
    outputs = app.lift_upload(pipeline, EXAMPLES / photo)
    image, *_, lifted = outputs
    assert lifted is not None, outputs[2]
    _assert_lifted(outputs, people=1, completed=any(lifted.result.missing_joints[0]))
    assert lifted.photo is not None and max(image.shape[:2]) == app.CANVAS_PX


def _write_bad(kind: str, directory: Path) -> Path:
    """A bad upload of the given kind."""
    if kind == "not an image":
        path = directory / "photo.jpg"
        path.write_text("this is not a JPEG")
    elif kind == "empty":
        path = directory / "keypoints.json"
        path.touch()
    elif kind == "wrong joint count (npz)":
        path = directory / "poses.npz"
        np.savez(path, keypoints_2d=np.random.default_rng(0).random((2, 12, 2)))
    elif kind == "wrong joint count (csv)":
        path = directory / "poses.csv"
        path.write_text(",".join(f"{a}{j}" for j in range(5) for a in "xy") + "\n" + ",".join(["1"] * 10) + "\n")
    elif kind == "too large":
        path = directory / "huge.npz"
        with path.open("wb") as handle:  # sparse: no 21 MB written
            handle.truncate(21 * 2**20)
    elif kind == "unsupported type":
        path = directory / "notes.txt"
        path.write_text("hello")
    elif kind == "invalid json":
        path = directory / "broken.json"
        path.write_text("{not json")
    else:  # "too few joints": 5 of 17 visible
        path = directory / "sparse.npz"
        confidence = np.zeros((1, 17), dtype=np.float32)
        confidence[0, :5] = 1
        np.savez(path, keypoints_2d=np.random.default_rng(0).random((1, 17, 2)), confidence=confidence)
    return path


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("not an image", "cannot be read as an image" if HAS_MEDIAPIPE else "needs the keypoint detector"),
        ("empty", "empty"),
        ("wrong joint count (npz)", "12 joints"),
        ("wrong joint count (csv)", "5 joints"),
        ("too large", "up to 20 MB"),
        ("unsupported type", "unsupported file type"),
        ("invalid json", "not valid JSON"),
        ("too few joints", "fewer than 8 of the 17 joints observed"),
    ],
)
def test_bad_uploads_give_a_readable_message(pipeline, tmp_path, kind, expected):
    path = _write_bad(kind, tmp_path)
    image, figure, text, json_path, lifted = app.lift_upload(pipeline, str(path))
    assert image is figure is json_path is lifted is None
    assert text.startswith(f"**Could not lift `{path.name}`:**") and expected in text
    assert str(tmp_path) not in text  # the server's upload folder is not shown
    *_, selector, state = app._on_upload(pipeline, str(path))
    assert state is None and not selector["visible"]


def test_no_upload_shows_the_instructions(pipeline):
    assert app.lift_upload(pipeline, None) == (None, None, app.INSTRUCTIONS, None, None)
