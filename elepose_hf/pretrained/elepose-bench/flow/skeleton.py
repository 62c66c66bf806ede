"""The 17-joint skeleton (Human3.6M / VideoPose3D order), its bones and the paper's bone-length prior."""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "hip",
    "rhip",
    "rknee",
    "rankle",
    "lhip",
    "lknee",
    "lankle",
    "spine",
    "thorax",
    "neck_nose",
    "head",
    "lshoulder",
    "lelbow",
    "lwrist",
    "rshoulder",
    "relbow",
    "rwrist",
)
NUM_JOINTS = len(JOINT_NAMES)
ROOT_JOINT = 0
HEAD_JOINT = 10

# (parent, child) pairs; the same index pairs as the authors' bone map, read in this library's joint order.
BONES: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (2, 3),
    (0, 4),
    (4, 5),
    (5, 6),
    (0, 7),
    (7, 8),
    (8, 9),
    (9, 10),
    (8, 11),
    (11, 12),
    (12, 13),
    (8, 14),
    (14, 15),
    (15, 16),
)

# Human3.6M bone length / mean bone length of the pose, in BONES order (authors' train.py; left and right
# arms have equal values, so the authors' arm swap does not change this list).
REFERENCE_RELATIVE_BONE_LENGTHS: tuple[float, ...] = (
    0.5181,
    1.7371,
    1.7229,
    0.5181,
    1.7371,
    1.7229,
    0.9209,
    0.9879,
    0.4481,
    0.4450,
    0.5746,
    1.0812,
    0.9652,
    0.5746,
    1.0812,
    0.9652,
)

# The authors' joint order has the arms swapped: their joints 11-13 are the right arm, 14-16 the left.
# Indexing an authors'-order array with this tuple gives this library's order (and vice versa: it is an
# involution).
AUTHORS_ORDER: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)


# ----------------------------------------------------------------------------------------------------
# Keypoint-format adapters.
#
# Every adapter is DATA: for each of the 17 target joints, the source joints whose mean gives it. One
# generic function (``to_h36m17``) applies any table. A source joint is *missing* when its confidence is
# not > 0 (0, negative or NaN) or any of its coordinates is not finite; a target joint is missing when any
# of its sources is, and then comes out with confidence 0 and NaN coordinates. A target's confidence is
# the MIN of its sources' confidences.
#
# target (h36m17) | coco17                     | mediapipe33                | openpose25 (BODY_25)
# ----------------+----------------------------+----------------------------+-------------------------------
#  0 hip          | mean(11 lhip, 12 rhip)     | mean(23 lhip, 24 rhip)     | 8 midhip
#  1 rhip         | 12                         | 24                         | 9
#  2 rknee        | 14                         | 26                         | 10
#  3 rankle       | 16                         | 28                         | 11
#  4 lhip         | 11                         | 23                         | 12
#  5 lknee        | 13                         | 25                         | 13
#  6 lankle       | 15                         | 27                         | 14
#  7 spine        | mean(5, 6, 11, 12)         | mean(11, 12, 23, 24)       | mean(1 neck, 8 midhip)
#  8 thorax       | mean(5 lsho, 6 rsho)       | mean(11 lsho, 12 rsho)     | 1 neck
#  9 neck_nose    | 0 nose                     | 0 nose                     | 0 nose
# 10 head         | mean(1, 2 eyes; 3, 4 ears) | mean(2, 5 eyes; 7, 8 ears) | mean(15, 16 eyes; 17, 18 ears)
# 11 lshoulder    | 5                          | 11                         | 5
# 12 lelbow       | 7                          | 13                         | 6
# 13 lwrist       | 9                          | 15                         | 7
# 14 rshoulder    | 6                          | 12                         | 2
# 15 relbow       | 8                          | 14                         | 3
# 16 rwrist       | 10                         | 16                         | 4
#
# Choices:
# - spine = mean(hip, thorax) = mean of both hips and both shoulders (equal weights); for OpenPose
#   mean(neck, midhip).
# - thorax / hip: OpenPose detects its own neck and mid-hip (the shoulder / hip mid-points), so they are
#   used directly: fewer sources means fewer targets lost when one side is occluded.
# - neck_nose = nose: Human3.6M's joint 9 projects close to the nose, and every format has one.
# - head = mean of the VISIBLE eyes and ears: it lies above the nose and, unlike the eyes alone, is centred
#   on the skull in profile views. It sits lower than Human3.6M's head-top marker (a systematic offset).
#   Its confidence is the min over the visible points; it is missing only when all four are (a side view
#   hides one ear, which must not cost the whole pose).
# - "h36m17" is the identity and "authors17" the arm swap (``AUTHORS_ORDER``), both with missing handling.
# ----------------------------------------------------------------------------------------------------

KEYPOINT_FORMATS: dict[str, int] = {
    "h36m17": 17,
    "coco17": 17,
    "mediapipe33": 33,
    "openpose25": 25,
    "authors17": 17,
}
SKELETON_EDGES: list[tuple[int, int]] = list(BONES)
ID2LABEL: dict[int, str] = dict(enumerate(JOINT_NAMES))

_SOURCE_JOINTS: dict[str, dict[str, tuple[int, ...]]] = {
    "h36m17": {name: (i,) for i, name in enumerate(JOINT_NAMES)},
    "authors17": {name: (AUTHORS_ORDER[i],) for i, name in enumerate(JOINT_NAMES)},
    "coco17": {
        "hip": (11, 12),
        "rhip": (12,),
        "rknee": (14,),
        "rankle": (16,),
        "lhip": (11,),
        "lknee": (13,),
        "lankle": (15,),
        "spine": (5, 6, 11, 12),
        "thorax": (5, 6),
        "neck_nose": (0,),
        "head": (1, 2, 3, 4),
        "lshoulder": (5,),
        "lelbow": (7,),
        "lwrist": (9,),
        "rshoulder": (6,),
        "relbow": (8,),
        "rwrist": (10,),
    },
    "mediapipe33": {
        "hip": (23, 24),
        "rhip": (24,),
        "rknee": (26,),
        "rankle": (28,),
        "lhip": (23,),
        "lknee": (25,),
        "lankle": (27,),
        "spine": (11, 12, 23, 24),
        "thorax": (11, 12),
        "neck_nose": (0,),
        "head": (2, 5, 7, 8),
        "lshoulder": (11,),
        "lelbow": (13,),
        "lwrist": (15,),
        "rshoulder": (12,),
        "relbow": (14,),
        "rwrist": (16,),
    },
    "openpose25": {
        "hip": (8,),
        "rhip": (9,),
        "rknee": (10,),
        "rankle": (11,),
        "lhip": (12,),
        "lknee": (13,),
        "lankle": (14,),
        "spine": (1, 8),
        "thorax": (1,),
        "neck_nose": (0,),
        "head": (15, 16, 17, 18),
        "lshoulder": (5,),
        "lelbow": (6,),
        "lwrist": (7,),
        "rshoulder": (2,),
        "relbow": (3,),
        "rwrist": (4,),
    },
}


def _gather_table(table: dict[str, tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Pads a per-joint source list to ``(17, K)`` index and weight arrays (padding has weight 0)."""
    width = max(len(src) for src in table.values())
    index = np.zeros((NUM_JOINTS, width), dtype=np.intp)
    weight = np.zeros((NUM_JOINTS, width), dtype=np.float32)
    for t, name in enumerate(JOINT_NAMES):
        src = table[name]
        index[t, : len(src)] = src
        weight[t, : len(src)] = 1.0 / len(src)
    return index, weight


_GATHER: dict[str, tuple[np.ndarray, np.ndarray]] = {f: _gather_table(t) for f, t in _SOURCE_JOINTS.items()}
# Joints averaged over whichever of their sources are visible (the others need all of theirs).
_ANY_VISIBLE = np.array([name == "head" for name in JOINT_NAMES])  # (17,)


def _check_format(fmt: str, allowed) -> None:
    if fmt not in allowed:
        raise ValueError(f"unknown keypoint format {fmt!r}; supported formats: {', '.join(allowed)}")


def detect_format(num_joints: int) -> str:
    """Guesses the format from the joint count (17 is read as "h36m17": pass COCO-17 explicitly)."""
    formats = {17: "h36m17", 33: "mediapipe33", 25: "openpose25"}
    if num_joints not in formats:
        raise ValueError(
            f"cannot detect the keypoint format of {num_joints} joints; supported formats: "
            + ", ".join(f"{name} ({n} joints)" for name, n in KEYPOINT_FORMATS.items())
        )
    return formats[num_joints]


def to_h36m17(keypoints, confidence=None, source_format: str = "h36m17") -> tuple[np.ndarray, np.ndarray]:
    """Converts ``(..., J, C)`` keypoints (C = 2 or 3) of ``source_format`` to the 17-joint Human3.6M order.

    ``confidence`` is ``(..., J)`` or None (all ones). Returns float32 ``(..., 17, C)`` keypoints and
    ``(..., 17)`` confidences; missing joints (see the table above) have confidence 0 and NaN coordinates.
    """
    _check_format(source_format, KEYPOINT_FORMATS)
    kp = np.asarray(keypoints, dtype=np.float32)
    num_joints = KEYPOINT_FORMATS[source_format]
    if kp.ndim < 2 or kp.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints must have shape (..., J, C) with C = 2 or 3, got {kp.shape}")
    if kp.shape[-2] != num_joints:
        raise ValueError(
            f"format {source_format!r} has {num_joints} joints but keypoints have {kp.shape[-2]} (shape {kp.shape})"
        )
    if confidence is None:
        conf = np.ones(kp.shape[:-1], dtype=np.float32)
    else:
        conf = np.asarray(confidence, dtype=np.float32)
        if conf.shape != kp.shape[:-1]:
            raise ValueError(f"confidence shape {conf.shape} does not match keypoints {kp.shape[:-1]} + (C,)")

    missing = ~(conf > 0) | ~np.isfinite(kp).all(axis=-1)
    conf = np.where(missing, np.float32(0), conf)
    kp = np.where(missing[..., None], np.float32(0), kp)  # so missing joints never leak NaN into sums

    index, weight = _GATHER[source_format]
    source_conf = conf[..., index]  # (..., 17, K)
    visible = (source_conf > 0) & (weight > 0)
    visible_count = visible.sum(axis=-1, keepdims=True)  # (..., 17, 1)
    any_weight = visible / np.maximum(visible_count, 1)
    weights = np.where(_ANY_VISIBLE[:, None], any_weight, weight).astype(np.float32)  # (..., 17, K)
    out = np.einsum("...tkc,...tk->...tc", kp[..., index, :], weights)
    all_conf = np.where(weight > 0, source_conf, np.float32(np.inf)).min(axis=-1)
    any_conf = np.where(visible, source_conf, np.float32(np.inf)).min(axis=-1)
    any_conf = np.where(np.isinf(any_conf), np.float32(0), any_conf)
    out_conf = np.where(_ANY_VISIBLE, any_conf, all_conf)
    out = np.where(out_conf[..., None] > 0, out, np.float32(np.nan))
    return out.astype(np.float32, copy=False), out_conf.astype(np.float32, copy=False)


def from_h36m17(keypoints, target_format: str = "authors17") -> np.ndarray:
    """Reorders ``(..., 17, C)`` keypoints from this library's order to "authors17" ("h36m17": a copy)."""
    _check_format(target_format, ("authors17", "h36m17"))
    kp = np.asarray(keypoints)
    if kp.ndim < 2 or kp.shape[-2] != NUM_JOINTS:
        raise ValueError(f"keypoints must have shape (..., {NUM_JOINTS}, C), got {kp.shape}")
    return kp[..., list(AUTHORS_ORDER), :] if target_format == "authors17" else kp.copy()
