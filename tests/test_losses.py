import math

import pytest
import torch

from elepose_hf import ElePoseConfig, ElePoseLifter, PoseFlowConfig, PoseFlowPrior
from elepose_hf.data import from_mocap_npz, pose_arrays
from elepose_hf.losses import (
    bone_lengths,
    bone_loss,
    deformation_loss,
    elepose_losses,
    lifting_loss,
    relative_bone_lengths_from_2d,
    reprojection_loss,
    weighted_sum,
)
from elepose_hf.skeleton import BONES, REFERENCE_RELATIVE_BONE_LENGTHS


def _pose_with_bone_lengths(lengths: list[float]) -> torch.Tensor:
    """A (1, 17, 3) pose whose bones, built child by child along +x, have the given lengths."""
    pose = torch.zeros(17, 3)
    for (parent, child), length in zip(BONES, lengths, strict=True):
        pose[child] = pose[parent] + torch.tensor([length, 0.0, 0.0])
    return pose.unsqueeze(0)


def test_bone_loss_is_zero_at_the_reference_and_quadratic_around_it():
    reference = torch.tensor(REFERENCE_RELATIVE_BONE_LENGTHS)
    pose = _pose_with_bone_lengths([3.0 * r for r in REFERENCE_RELATIVE_BONE_LENGTHS])
    assert torch.allclose(bone_lengths(pose)[0], 3.0 * reference, atol=1e-5)
    assert bone_loss(pose, reference, std=1 / math.sqrt(2)) < 1e-8
    longer = list(REFERENCE_RELATIVE_BONE_LENGTHS)
    longer[0] += 0.5
    relative = torch.tensor(longer) / torch.tensor(longer).mean()
    expected = ((relative - reference) ** 2).sum() / (2 * 0.5**2)
    assert torch.allclose(bone_loss(_pose_with_bone_lengths(longer), reference, std=0.5), expected)


def test_bone_proportions_estimated_from_2d_views_match_the_3d_skeleton():
    """The shipped CMU motion capture seen by random cameras: its rig's proportions are not Human3.6M's."""
    arrays = pose_arrays(from_mocap_npz(seed=1), ["keypoints_2d", "keypoints_3d"])
    lengths = bone_lengths(torch.from_numpy(arrays["keypoints_3d"]).double())  # (N, K)
    truth = (lengths / lengths.mean(dim=1, keepdim=True)).mean(dim=0)
    estimate = torch.tensor(relative_bone_lengths_from_2d(torch.from_numpy(arrays["keypoints_2d"])))
    assert estimate.shape == (len(BONES),) and estimate.mean().item() == pytest.approx(1.0)
    error = (estimate - truth).abs().max()
    assert error < 0.05
    assert error < (torch.tensor(REFERENCE_RELATIVE_BONE_LENGTHS).double() - truth).abs().max() / 3


def test_cycle_losses_on_hand_computed_values():
    zero = torch.zeros(2, 17, 3)
    shifted = zero.clone()
    shifted[0, 3] = torch.tensor([3.0, 4.0, 0.0])  # one joint 5 away in the first pose
    assert torch.isclose(lifting_loss(shifted, zero), torch.tensor(2.5))  # (5 + 0) / 2
    assert torch.isclose(deformation_loss(shifted, zero), torch.tensor(5.0))  # one pair, difference 5
    same_motion = zero + torch.tensor([1.0, 2.0, 3.0])  # a common offset keeps every pairwise difference
    assert deformation_loss(same_motion, zero) == 0
    flat = torch.zeros(2, 17, 2)
    moved = flat.clone()
    moved[1, 0] = torch.tensor([0.5, -0.25])
    assert torch.isclose(reprojection_loss(moved, flat), torch.tensor(0.375))  # (0 + 0.75) / 2


def test_weighted_sum_uses_the_config_weights():
    terms = {"a": torch.tensor(2.0), "b": torch.tensor(3.0)}
    assert weighted_sum(terms, {"a": 1.0, "b": 50.0}) == 152.0


def test_gradients_reach_the_lifter_through_the_frozen_flow(random_poses, generator):
    lifter = ElePoseLifter(ElePoseConfig(hidden_size=32))
    flow = PoseFlowPrior(PoseFlowConfig(num_pca_components=8, num_blocks=2, hidden_size=16))
    flow.fit_pca(random_poses)
    flow.requires_grad_(False)
    terms, elevation = elepose_losses(lifter, flow, random_poses, generator=generator)
    assert set(terms) == {"loss", "likelihood", "bone", "lift_3d", "deformation", "reprojection_2d"}
    assert elevation.shape == (64,)
    expected = terms["likelihood"] + 50 * terms["bone"] + terms["lift_3d"] + terms["deformation"]
    assert torch.allclose(terms["loss"], expected + terms["reprojection_2d"])
    lifter.zero_grad()
    terms["likelihood"].backward()
    assert all(p.grad is None for p in flow.parameters())
    assert lifter.upscale.weight.grad.abs().sum() > 0
    assert lifter.depth_head.weight.grad.abs().sum() > 0
    assert lifter.elevation_head.weight.grad.abs().sum() > 0  # the elevation is learned through the flow


def test_no_elevation_ablation_leaves_the_elevation_branch_untrained(random_poses, generator):
    lifter = ElePoseLifter(ElePoseConfig(hidden_size=16, use_elevation=False))
    flow = PoseFlowPrior(PoseFlowConfig(num_pca_components=8, num_blocks=1, hidden_size=16))
    flow.fit_pca(random_poses)
    terms, _ = elepose_losses(lifter, flow, random_poses, generator=generator)
    terms["loss"].backward()
    assert lifter.elevation_head.weight.grad is None or lifter.elevation_head.weight.grad.abs().sum() == 0


def test_bf16_autocast_keeps_depths_geometry_and_densities_in_float32(random_poses):
    lifter = ElePoseLifter(ElePoseConfig(hidden_size=64))
    flow = PoseFlowPrior(PoseFlowConfig(num_pca_components=8, num_blocks=2, hidden_size=16))
    flow.fit_pca(random_poses)
    flow.requires_grad_(False).eval()  # frozen, as ElePoseObjective holds it
    exact_lift = lifter(random_poses)
    exact, _ = elepose_losses(lifter, flow, random_poses, generator=torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed_lift = lifter(random_poses)
        mixed, _ = elepose_losses(lifter, flow, random_poses, generator=torch.Generator().manual_seed(1))
        frozen_log_prob = flow.log_prob(random_poses)
    assert torch.equal(frozen_log_prob, flow.log_prob(random_poses))
    assert mixed_lift.depth.dtype == mixed_lift.keypoints_3d.dtype == torch.float32
    # bf16 resolves depths near 10 to 0.0625; float32 depths from bf16 matrix products stay within 1e-2.
    assert (mixed_lift.depth - exact_lift.depth).abs().max() < 1e-2
    for name, value in exact.items():
        assert mixed[name].dtype == torch.float32
        assert torch.isclose(mixed[name], value, rtol=0.05), name
