import math

import pytest
import torch

from elepose_hf.geometry import (
    normalize_keypoints,
    project,
    project_at_depth,
    rotate,
    rotation_x,
    rotation_y,
    sample_virtual_cameras,
    unproject,
    virtual_camera_rotation,
)


def test_projection_inverts_unprojection(generator):
    keypoints = torch.randn(5, 17, 2, generator=generator)
    depth = 1 + 10 * torch.rand(5, 17, generator=generator)
    assert torch.allclose(project(unproject(keypoints, depth)), keypoints, atol=1e-6)
    points = unproject(keypoints, depth)
    assert torch.allclose(unproject(project(points), points[..., 2]), points, atol=1e-5)


@pytest.mark.parametrize("rotation", [rotation_x, rotation_y])
def test_rotations_are_proper(rotation, generator):
    angles = (torch.rand(100, generator=generator) * 2 - 1) * math.pi
    matrices = rotation(angles.double())
    eye = torch.eye(3, dtype=torch.float64).expand(100, 3, 3)
    assert torch.allclose(matrices @ matrices.transpose(1, 2), eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(matrices), torch.ones(100, dtype=torch.float64), atol=1e-12)


def test_rotation_axes():
    quarter = torch.tensor(math.pi / 2)
    # about x: y goes to z; about y: z goes to x
    assert torch.allclose(rotation_x(quarter) @ torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)
    assert torch.allclose(rotation_y(quarter) @ torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)


def test_levelling_undoes_elevation_exactly():
    """A camera above the person looking down sees world up as (0, -cos e, -sin e); undoing e levels it."""
    elevation = torch.tensor([0.3, -0.2, 0.0], dtype=torch.float64)
    up_in_camera = torch.stack([torch.zeros(3), -torch.cos(elevation), -torch.sin(elevation)], dim=-1)
    zero = torch.zeros(3, dtype=torch.float64)
    levelled = virtual_camera_rotation(elevation, zero, zero) @ up_in_camera.unsqueeze(-1)
    assert torch.allclose(levelled.squeeze(-1), torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64).expand(3, 3))
    # Same elevation back and no azimuth: the identity, to machine precision.
    rotation = virtual_camera_rotation(elevation, zero, elevation)
    assert torch.allclose(rotation, torch.eye(3, dtype=torch.float64).expand(3, 3), atol=1e-15)


def test_virtual_camera_keeps_gravity_axis_for_any_azimuth(generator):
    """After undoing the elevation, the azimuth turns about gravity: world up only sees the new elevation."""
    elevation = torch.full((50,), 0.25, dtype=torch.float64)
    azimuth = (torch.rand(50, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
    new = torch.full((50,), -0.1, dtype=torch.float64)
    up = torch.tensor([0.0, -math.cos(0.25), -math.sin(0.25)], dtype=torch.float64)
    seen = virtual_camera_rotation(elevation, azimuth, new) @ up
    expected = torch.tensor([0.0, -math.cos(-0.1), -math.sin(-0.1)], dtype=torch.float64)
    assert torch.allclose(seen, expected.expand(50, 3), atol=1e-12)


def test_sampled_elevations_follow_the_batch_distribution(generator):
    elevation = 0.2 + 0.05 * torch.randn(20000, generator=generator, dtype=torch.float64)
    rotation = sample_virtual_cameras(elevation, generator=generator)
    up = torch.stack([torch.zeros_like(elevation), -torch.cos(elevation), -torch.sin(elevation)], dim=-1)
    new_up = (rotation @ up.unsqueeze(-1)).squeeze(-1)
    new_elevation = torch.asin(-new_up[:, 2])
    assert abs(new_elevation.mean() - 0.2) < 0.005 and abs(new_elevation.std() - 0.05) < 0.005


def test_sampling_is_differentiable_through_the_elevation(generator):
    elevation = torch.randn(16, generator=generator, requires_grad=True)
    points = torch.randn(16, 17, 3, generator=generator)
    project_at_depth(rotate(points, sample_virtual_cameras(elevation, generator=generator)), 10.0).sum().backward()
    assert elevation.grad is not None and elevation.grad.abs().sum() > 0


def test_fixed_prior_ablation_elevation_range(generator):
    rotation = sample_virtual_cameras(torch.zeros(5000), learned_elevation=False, generator=generator)
    new_elevation = torch.asin(-(rotation @ torch.tensor([0.0, -1.0, 0.0]))[:, 2])
    assert new_elevation.abs().max() <= math.pi / 9 + 1e-5
    assert new_elevation.abs().max() > math.pi / 9 * 0.95


def test_normalization_modes(generator):
    poses = torch.randn(4, 17, 2, generator=generator) * 50 + 300
    per_pose = normalize_keypoints(poses, None, head_length=0.1)
    assert torch.allclose(per_pose[:, 0], torch.zeros(4, 2))
    assert torch.allclose(torch.linalg.vector_norm(per_pose[:, 10], dim=-1), torch.full((4,), 0.1))
    dataset = normalize_keypoints(poses, 200.0, head_length=0.1)
    assert torch.allclose(dataset, (poses - poses[:, :1]) / 2000.0)


def test_zero_scale_pose_is_refused():
    poses = torch.zeros(3, 17, 2)
    poses[0] = torch.randn(17, 2)
    with pytest.raises(ValueError, match=r"zero root-to-head distance \(rows \[1, 2\]\)"):
        normalize_keypoints(poses, None, head_length=0.1)


@pytest.mark.parametrize("statistics_gradient", [True, False])
def test_elevation_statistics_gradient_switch(statistics_gradient, generator):
    elevation = (0.2 + 0.05 * torch.randn(32, generator=generator, dtype=torch.float64)).requires_grad_()
    rotation = sample_virtual_cameras(elevation, generator=generator, statistics_gradient=statistics_gradient)
    # R R_x(e) = R~_e R_a depends on the predicted elevations only through their batch mean and std
    (rotation @ rotation_x(elevation)).sum().backward()
    assert bool(elevation.grad.abs().sum() > 1e-6) is statistics_gradient
