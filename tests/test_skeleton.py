"""Tests for the 17-joint skeleton definitions and the keypoint-format adapters."""

from __future__ import annotations

import numpy as np
import pytest

from elepose_hf.skeleton import (
    AUTHORS_ORDER,
    BONES,
    ID2LABEL,
    JOINT_NAMES,
    KEYPOINT_FORMATS,
    NUM_JOINTS,
    REFERENCE_RELATIVE_BONE_LENGTHS,
    ROOT_JOINT,
    SKELETON_EDGES,
    detect_format,
    from_h36m17,
    to_h36m17,
)

J = {name: i for i, name in enumerate(JOINT_NAMES)}
RNG = np.random.default_rng(0)


def _pose(num_joints: int, dim: int = 2, batch: tuple[int, ...] = ()) -> np.ndarray:
    return RNG.normal(size=(*batch, num_joints, dim)).astype(np.float32)


def test_bones_form_a_tree_rooted_at_the_pelvis():
    assert NUM_JOINTS == len(JOINT_NAMES) == 17 and ROOT_JOINT == 0
    assert len(BONES) == 16 == len(REFERENCE_RELATIVE_BONE_LENGTHS)
    children = [child for _, child in BONES]
    assert sorted(children) == list(range(1, 17))  # every non-root joint has exactly one parent
    reached = {ROOT_JOINT}
    for parent, child in BONES:  # parents are listed before their children
        assert parent in reached
        reached.add(child)
    assert reached == set(range(17))
    assert np.mean(REFERENCE_RELATIVE_BONE_LENGTHS) == pytest.approx(1.0, abs=1e-3)
    assert list(BONES) == SKELETON_EDGES
    assert dict(enumerate(JOINT_NAMES)) == ID2LABEL


def test_authors_order_swaps_arms_and_round_trips():
    pose = _pose(17, 3, (4,))
    authors = from_h36m17(pose, "authors17")
    np.testing.assert_array_equal(authors[..., 11:14, :], pose[..., 14:17, :])
    np.testing.assert_array_equal(authors[..., 14:17, :], pose[..., 11:14, :])
    np.testing.assert_array_equal(authors[..., :11, :], pose[..., :11, :])
    back, conf = to_h36m17(authors, source_format="authors17")
    np.testing.assert_array_equal(back, pose)
    np.testing.assert_array_equal(conf, np.ones((4, 17), np.float32))
    assert tuple(AUTHORS_ORDER[i] for i in AUTHORS_ORDER) == tuple(range(17))
    np.testing.assert_array_equal(from_h36m17(pose, "h36m17"), pose)


def test_h36m17_identity_keeps_confidence():
    pose = _pose(17, 2, (3,))
    conf = RNG.uniform(0.1, 1.0, size=(3, 17)).astype(np.float32)
    out, out_conf = to_h36m17(pose, conf)
    assert out.dtype == np.float32 and out_conf.dtype == np.float32
    np.testing.assert_array_equal(out, pose)
    np.testing.assert_array_equal(out_conf, conf)


# Source index of each single-source target joint (in _LIMB_TARGETS order), per format.
_LIMBS = {
    "coco17": (11, 12, 13, 14, 15, 16, 5, 6, 7, 8, 9, 10, 0),
    "mediapipe33": (23, 24, 25, 26, 27, 28, 11, 12, 13, 14, 15, 16, 0),
    "openpose25": (12, 9, 13, 10, 14, 11, 5, 2, 6, 3, 7, 4, 0),
}
_LIMB_TARGETS = ("lhip", "rhip", "lknee", "rknee", "lankle", "rankle", "lshoulder", "rshoulder")
_LIMB_TARGETS += ("lelbow", "relbow", "lwrist", "rwrist", "neck_nose")
_HEAD = {"coco17": (1, 2, 3, 4), "mediapipe33": (2, 5, 7, 8), "openpose25": (15, 16, 17, 18)}


@pytest.mark.parametrize("fmt", ["coco17", "mediapipe33", "openpose25"])
def test_format_mapping_on_synthetic_pose(fmt):
    src = _pose(KEYPOINT_FORMATS[fmt], 2)
    conf = RNG.uniform(0.2, 1.0, size=src.shape[0]).astype(np.float32)
    out, out_conf = to_h36m17(src, conf, source_format=fmt)
    assert out.shape == (17, 2) and out_conf.shape == (17,)
    assert np.isfinite(out).all() and (out_conf > 0).all()
    for target, s in zip(_LIMB_TARGETS, _LIMBS[fmt], strict=True):
        np.testing.assert_allclose(out[J[target]], src[s], err_msg=target)
        assert out_conf[J[target]] == conf[s]
    lhip, rhip, lsho, rsho = (_LIMBS[fmt][i] for i in (0, 1, 6, 7))
    if fmt == "openpose25":  # OpenPose's own mid-hip and neck
        hip, thorax = src[8], src[1]
        assert out_conf[J["hip"]] == conf[8] and out_conf[J["thorax"]] == conf[1]
    else:
        hip, thorax = (src[lhip] + src[rhip]) / 2, (src[lsho] + src[rsho]) / 2
        assert out_conf[J["hip"]] == min(conf[lhip], conf[rhip])
        assert out_conf[J["thorax"]] == min(conf[lsho], conf[rsho])
    np.testing.assert_allclose(out[J["hip"]], hip, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[J["thorax"]], thorax, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[J["spine"]], (hip + thorax) / 2, rtol=1e-5, atol=1e-6)
    head = _HEAD[fmt]
    np.testing.assert_allclose(out[J["head"]], src[list(head)].mean(0), rtol=1e-5, atol=1e-6)
    assert out_conf[J["head"]] == conf[list(head)].min()


def test_coco17_hand_built_pose():
    coco = np.zeros((17, 2), np.float32)
    coco[0] = (0, 10)  # nose
    coco[1:5] = [(-1, 11), (1, 11), (-2, 10), (2, 10)]  # eyes, ears
    coco[5], coco[6] = (-3, 8), (3, 8)  # left / right shoulder
    coco[9], coco[10] = (-5, 2), (5, 2)  # left / right wrist
    coco[11], coco[12] = (-2, 0), (2, 0)  # left / right hip
    out, _ = to_h36m17(coco, source_format="coco17")
    np.testing.assert_allclose(out[J["hip"]], (0, 0))
    np.testing.assert_allclose(out[J["thorax"]], (0, 8))
    np.testing.assert_allclose(out[J["spine"]], (0, 4))
    np.testing.assert_allclose(out[J["neck_nose"]], (0, 10))
    np.testing.assert_allclose(out[J["head"]], (0, 10.5))
    np.testing.assert_allclose(out[J["lwrist"]], (-5, 2))
    np.testing.assert_allclose(out[J["rwrist"]], (5, 2))
    np.testing.assert_allclose(out[J["lhip"]], (-2, 0))


@pytest.mark.parametrize("how", ["zero_confidence", "nan_coordinate"])
@pytest.mark.parametrize(
    ("fmt", "source", "affected"),
    [
        ("coco17", 5, {"lshoulder", "thorax", "spine"}),
        ("coco17", 11, {"lhip", "hip", "spine"}),
        ("coco17", 3, set()),  # one ear hidden: the head comes from the visible face points
        ("mediapipe33", 24, {"rhip", "hip", "spine"}),
        ("openpose25", 1, {"thorax", "spine"}),
        ("openpose25", 4, {"rwrist"}),
        ("h36m17", 8, {"thorax"}),
    ],
)
def test_missing_joint_propagates(fmt, source, affected, how):
    src = _pose(KEYPOINT_FORMATS[fmt], 3, (2,))
    conf = np.full(src.shape[:-1], 0.9, np.float32)
    if how == "zero_confidence":
        conf[1, source] = 0.0
    else:
        src[1, source, 1] = np.nan
    out, out_conf = to_h36m17(src, conf, source_format=fmt)
    assert np.isfinite(out[0]).all() and (out_conf[0] == np.float32(0.9)).all()  # other pose untouched
    for name, t in J.items():
        if name in affected:
            assert out_conf[1, t] == 0 and np.isnan(out[1, t]).all(), name
        else:
            assert out_conf[1, t] == np.float32(0.9) and np.isfinite(out[1, t]).all(), name


@pytest.mark.parametrize("batch", [(), (5,), (2, 3)])
@pytest.mark.parametrize("dim", [2, 3])
def test_leading_batch_dims(batch, dim):
    src = _pose(33, dim, batch)
    out, conf = to_h36m17(src, source_format="mediapipe33")
    assert out.shape == (*batch, 17, dim) and conf.shape == (*batch, 17)
    flat, _ = to_h36m17(src.reshape(-1, 33, dim), source_format="mediapipe33")
    np.testing.assert_array_equal(out.reshape(-1, 17, dim), flat)


def test_detect_format():
    assert detect_format(17) == "h36m17"
    assert detect_format(33) == "mediapipe33"
    assert detect_format(25) == "openpose25"
    with pytest.raises(ValueError, match=r"18 joints.*coco17"):
        detect_format(18)


def test_errors():
    with pytest.raises(ValueError, match=r"'coco18'.*mediapipe33"):
        to_h36m17(_pose(17), source_format="coco18")
    with pytest.raises(ValueError, match=r"'openpose25' has 25 joints.*17"):
        to_h36m17(_pose(17), source_format="openpose25")
    with pytest.raises(ValueError, match="C = 2 or 3"):
        to_h36m17(_pose(17, 4))
    with pytest.raises(ValueError, match="C = 2 or 3"):
        to_h36m17(np.zeros(17, np.float32))
    with pytest.raises(ValueError, match="confidence shape"):
        to_h36m17(_pose(17, 2, (3,)), np.ones((3, 16)))
    with pytest.raises(ValueError, match=r"'coco17'.*authors17"):
        from_h36m17(_pose(17), "coco17")
    with pytest.raises(ValueError, match=r"\(\.\.\., 17, C\)"):
        from_h36m17(_pose(25))


def test_head_uses_the_visible_face_points():
    coco = _pose(17, 2, ())
    conf = np.ones(17, np.float32)
    conf[[1, 3]] = 0  # left eye and left ear hidden (a right profile)
    out, out_conf = to_h36m17(coco, conf, source_format="coco17")
    np.testing.assert_allclose(out[J["head"]], coco[[2, 4]].mean(0), rtol=1e-5)
    assert out_conf[J["head"]] == 1
    conf[[2, 4]] = 0  # no face point left
    out, out_conf = to_h36m17(coco, conf, source_format="coco17")
    assert out_conf[J["head"]] == 0 and np.isnan(out[J["head"]]).all()
