"""The optional MediaPipe keypoint detector on the two real photos, and photos through the whole pipeline.

Needs ``pip install 'elepose-hf[detector]'`` (mediapipe 0.10.21, numpy < 2): skipped without it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mediapipe")

from conftest import tiny_lifter_and_flow  # noqa: E402

from elepose_hf.detector import detect_keypoints, load_rgb  # noqa: E402
from elepose_hf.keypoint_io import read_image, read_keypoints  # noqa: E402
from elepose_hf.pipeline import ElePosePipeline  # noqa: E402
from elepose_hf.skeleton import to_h36m17  # noqa: E402

IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "images"
PHOTOS = ["sports2d_demo_frame.jpg", "pose2sim_cam01_frame.jpg"]
# MediaPipe-33 landmark indices.
NOSE, SHOULDERS, HIPS, KNEES, ANKLES = 0, (11, 12), (23, 24), (25, 26), (27, 28)


@pytest.fixture(params=PHOTOS)
def photo(request) -> Path:
    path = IMAGES / request.param
    if not path.is_file():
        pytest.skip(f"the shared photo {path} is absent")
    return path


@pytest.fixture(scope="module")
def pipeline() -> ElePosePipeline:
    return ElePosePipeline(*tiny_lifter_and_flow(), device="cpu")


def test_one_person_with_plausible_anatomy(photo):
    keypoints = detect_keypoints(photo)
    width, height = load_rgb(photo).shape[1::-1]
    assert keypoints.keypoint_format == "mediapipe33" and keypoints.image_size == (width, height)
    assert keypoints.keypoints.shape == (1, 33, 2) and keypoints.confidence.shape == (1, 33)
    points, confidence = keypoints.keypoints[0], keypoints.confidence[0]
    assert ((points >= 0) & (points <= [width, height])).all()  # all 33 landmarks inside the image
    assert ((confidence >= 0) & (confidence <= 1)).all() and confidence.mean() > 0.5
    y = points[:, 1]  # image y grows downwards
    for upper, lower in ((SHOULDERS, HIPS), (HIPS, KNEES), (KNEES, ANKLES)):
        assert y[list(upper)].mean() < y[list(lower)].mean()
    assert y[NOSE] < y[list(SHOULDERS)].mean()
    torso = np.linalg.norm(points[list(SHOULDERS)].mean(0) - points[list(HIPS)].mean(0))
    assert 0.05 * height < torso < height  # a person-sized torso
    h36m, h36m_confidence = to_h36m17(keypoints.keypoints, keypoints.confidence, "mediapipe33")
    assert h36m.shape == (1, 17, 2) and np.isfinite(h36m).all() and (h36m_confidence > 0).all()


def test_array_input_and_image_readers_agree(photo):
    from_path = detect_keypoints(photo)
    from_array = detect_keypoints(load_rgb(photo))
    np.testing.assert_allclose(from_array.keypoints, from_path.keypoints, atol=1e-3)
    for read in (read_image, read_keypoints):
        keypoints = read(photo)
        np.testing.assert_allclose(keypoints.keypoints, from_path.keypoints, atol=1e-3)
        assert keypoints.names == [f"{photo.name}/person0"]


def test_photo_through_the_pipeline(pipeline, photo):
    result = pipeline(read_image(photo))
    assert len(result) == 1 and result.keypoints_3d.shape == (1, 17, 3)
    for name in ("keypoints_3d", "keypoints_3d_metric", "keypoints_3d_upright", "camera_elevation_deg", "nll"):
        assert np.isfinite(getattr(result, name)).all(), name
    assert 0 <= result.plausibility[0] <= 1


def test_no_person_and_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="no person found in the image"):
        detect_keypoints(np.full((240, 320, 3), 127, dtype=np.uint8))
    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 240), "gray").save(blank)
    with pytest.raises(ValueError, match=re.escape(f"no person found in {blank}")):
        detect_keypoints(blank)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB"):
        detect_keypoints(np.zeros((240, 320), dtype=np.float32))
    not_an_image = tmp_path / "photo.jpg"
    not_an_image.write_text("not a JPEG")
    with pytest.raises(ValueError, match="cannot be read as an image"):
        read_image(not_an_image)
