"""Camera geometry of ElePose: rotations, perspective (un)projection, 2D normalization and virtual cameras.

Camera frame: x right, y down, z forward. Elevation is positive when the camera is above the person, looking
down; ``rotation_x(-elevation)`` levels a pose seen from such a camera (the authors' network outputs minus
this angle).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch


def float32_under_autocast(function: Callable) -> Callable:
    """Run ``function`` with autocast switched off on its tensors' device.

    Under mixed precision, autocast would run rotations and projections in bf16 (8 bits of mantissa: a depth near
    10 resolves to 0.06); those stay float32, and only large matrix products (the lifter's layers, the coupling
    sub-networks of a training flow) use the lower precision. ``function``'s first tensor argument names the
    device.
    """

    @functools.wraps(function)
    def run(*args, **kwargs):
        device = next(a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)).device
        with torch.autocast(device.type, enabled=False):
            return function(*args, **kwargs)

    return run


def _matrix(rows: list[list[torch.Tensor]]) -> torch.Tensor:
    """Stack a 3x3 nested list of ``(...)`` tensors into ``(..., 3, 3)``."""
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def rotation_x(angle: torch.Tensor) -> torch.Tensor:
    """Rotation about the x (elevation) axis: ``(...,)`` radians -> ``(..., 3, 3)``."""
    cos, sin, one, zero = torch.cos(angle), torch.sin(angle), torch.ones_like(angle), torch.zeros_like(angle)
    return _matrix([[one, zero, zero], [zero, cos, -sin], [zero, sin, cos]])


def rotation_y(angle: torch.Tensor) -> torch.Tensor:
    """Rotation about the y (azimuth; gravity when level) axis: ``(...,)`` radians -> ``(..., 3, 3)``."""
    cos, sin, one, zero = torch.cos(angle), torch.sin(angle), torch.ones_like(angle), torch.zeros_like(angle)
    return _matrix([[cos, zero, sin], [zero, one, zero], [-sin, zero, cos]])


def project(points_3d: torch.Tensor) -> torch.Tensor:
    """Perspective projection ``(..., J, 3) -> (..., J, 2)``: ``[x / z, y / z]`` (Eq. 3)."""
    return points_3d[..., :2] / points_3d[..., 2:3]


def unproject(keypoints_2d: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """Perspective unprojection ``(..., J, 2), (..., J) -> (..., J, 3)``: ``[u w, v w, w]`` (Eq. 2)."""
    return torch.cat([keypoints_2d * depth.unsqueeze(-1), depth.unsqueeze(-1)], dim=-1)


def root_centre(points: torch.Tensor, root: int = 0) -> torch.Tensor:
    """Subtract the root joint: ``(..., J, D) -> (..., J, D)``."""
    return points - points[..., root : root + 1, :]


def project_at_depth(points_3d: torch.Tensor, depth_offset: float) -> torch.Tensor:
    """Project a root-centred pose ``(..., J, 3)`` placed ``depth_offset`` in front of the camera -> ``(..., J, 2)``."""
    shift = points_3d.new_tensor([0.0, 0.0, depth_offset])
    return project(points_3d + shift)


def root_to_head_distance(keypoints_2d: torch.Tensor, root: int = 0, head: int = 10) -> torch.Tensor:
    """Distance between the root and head joints: ``(..., J, 2) -> (...,)``."""
    return torch.linalg.vector_norm(keypoints_2d[..., head, :] - keypoints_2d[..., root, :], dim=-1)


def normalize_keypoints(
    keypoints_2d: torch.Tensor,
    scale: float | None,
    head_length: float,
    root: int = 0,
    head: int = 10,
) -> torch.Tensor:
    """Root-centre 2D poses ``(B, J, 2)`` and scale them so that the root-to-head distance becomes ``head_length``.

    ``scale`` is a dataset-level root-to-head distance in input units (the authors' code); ``None`` uses each
    pose's own root-to-head distance (the paper's text). Raises ``ValueError`` for a pose whose scale is zero.
    """
    centred = root_centre(keypoints_2d, root)
    if scale is None:
        per_pose = root_to_head_distance(centred, root, head)  # (B,)
        degenerate = ~(per_pose > 0)
        if degenerate.any():
            rows = torch.nonzero(degenerate).flatten()[:5].tolist()
            raise ValueError(
                f"keypoints_2d: {int(degenerate.sum())} pose(s) have zero root-to-head distance (rows {rows}); "
                "their scale cannot be normalized"
            )
        return centred * (head_length / per_pose)[..., None, None]
    if not scale > 0:
        raise ValueError(f"normalization scale must be positive, got {scale}")
    return centred * (head_length / scale)


@float32_under_autocast
def virtual_camera_rotation(
    elevation: torch.Tensor, azimuth: torch.Tensor, new_elevation: torch.Tensor
) -> torch.Tensor:
    """Rotation ``(B, 3, 3)`` from the input camera to a virtual camera.

    The pose is first levelled by undoing its ``elevation`` (``R_e^T``), then turned by ``azimuth`` about the
    gravity axis (``R_a``) and finally seen from ``new_elevation`` (``R~_e``): ``R = R~_e R_a R_e^T`` applied to
    column vectors, the paper's Eq. 7 written in the order the rotations act. All angles ``(B,)`` radians.
    """
    return rotation_x(new_elevation) @ rotation_y(azimuth) @ rotation_x(elevation).transpose(-1, -2)


def sample_virtual_cameras(
    elevation: torch.Tensor,
    learned_elevation: bool = True,
    fixed_elevation_range: float = math.pi / 9,
    generator: torch.Generator | None = None,
    statistics_gradient: bool = True,
) -> torch.Tensor:
    """Draw one virtual camera per pose: rotation ``(B, 3, 3)`` for predicted ``elevation`` ``(B,)``.

    Azimuth is uniform in ``[-pi, pi]``. With ``learned_elevation`` the new elevation is drawn by
    reparametrization from ``N(mean, std)`` of the batch's predicted elevations (Eqs. 5-6), so gradients reach the
    elevation branch (``statistics_gradient=False`` treats mean and std as constants); otherwise the predicted
    elevation is not undone and the new one is uniform in
    ``[-fixed_elevation_range, fixed_elevation_range]`` (the prior of earlier work, Table 5's ablation).
    """
    batch = elevation.shape[0]
    uniform = torch.rand(2, batch, generator=generator, device=elevation.device, dtype=elevation.dtype)
    azimuth = (uniform[0] * 2.0 - 1.0) * math.pi
    if not learned_elevation:
        new_elevation = (uniform[1] * 2.0 - 1.0) * fixed_elevation_range
        return virtual_camera_rotation(torch.zeros_like(elevation), azimuth, new_elevation)
    noise = torch.randn(batch, generator=generator, device=elevation.device, dtype=elevation.dtype)
    statistics = elevation if statistics_gradient else elevation.detach()
    std = statistics.std() if batch > 1 else elevation.new_zeros(())
    new_elevation = statistics.mean() + std * noise
    return virtual_camera_rotation(elevation, azimuth, new_elevation)


@float32_under_autocast
def rotate(points: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Apply rotations ``(B, 3, 3)`` to poses ``(B, J, 3)`` (column-vector convention)."""
    return points @ rotation.transpose(-1, -2)
