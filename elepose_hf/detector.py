"""2D keypoints of the person in a photo, with MediaPipe Pose (optional: ``pip install 'elepose-hf[detector]'``).

Uses MediaPipe's legacy ``solutions.pose`` API (BlazePose GHUM, ``model_complexity=1``), whose model files ship
inside the ``mediapipe`` wheel (Apache-2.0), so detection runs fully offline. MediaPipe finds at most one person
per image. The result is a [`KeypointSet`] in the ``"mediapipe33"`` format: pixel coordinates, confidence = the
landmark's visibility.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from mediapipe.python.solutions import pose as mp_pose
from PIL import Image, ImageOps

from .keypoint_io import KeypointSet

MODEL_COMPLEXITY = 1  # 0 and 1 ship inside the wheel; 2 (heavy) would be downloaded at run time
MIN_DETECTION_CONFIDENCE = 0.5
_LOCK = threading.Lock()  # one MediaPipe graph, used by one thread at a time


@lru_cache(maxsize=1)
def _landmarker() -> mp_pose.Pose:
    return mp_pose.Pose(
        static_image_mode=True,
        model_complexity=MODEL_COMPLEXITY,
        enable_segmentation=False,
        min_detection_confidence=MIN_DETECTION_CONFIDENCE,
    )


def load_rgb(image: str | Path | np.ndarray) -> np.ndarray:
    """An image file (upright per its EXIF orientation) or array as a ``(H, W, 3)`` uint8 RGB array."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"the image array must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        return np.ascontiguousarray(image)
    path = Path(image)
    try:
        with Image.open(path) as opened:
            return np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    except (OSError, Image.DecompressionBombError) as err:  # UnidentifiedImageError is an OSError
        raise ValueError(f"{path}: cannot be read as an image ({err})") from err


def detect_keypoints(image: str | Path | np.ndarray) -> KeypointSet:
    """The MediaPipe-33 keypoints (pixels) of the person in ``image`` (a file path or ``(H, W, 3)`` uint8 RGB).

    Returns one pose (``N = 1``) with ``image_size`` set; raises ``ValueError`` when no person is found.
    """
    rgb = load_rgb(image)
    height, width = rgb.shape[:2]
    with _LOCK:
        landmarks = _landmarker().process(rgb).pose_landmarks
    if landmarks is None:
        where = "the image" if isinstance(image, np.ndarray) else str(image)
        raise ValueError(f"no person found in {where}")
    values = np.array([(mark.x, mark.y, mark.visibility) for mark in landmarks.landmark], dtype=np.float32)  # (33, 3)
    keypoints = values[:, :2] * np.array([width, height], dtype=np.float32)
    return KeypointSet(
        keypoints=keypoints[None],
        confidence=values[None, :, 2],
        keypoint_format="mediapipe33",
        image_size=(width, height),
    )
