"""The ElePose objective: one function per loss term (Sec. 3 of the paper) and their weighted sum (Eq. 13)."""

from __future__ import annotations

import torch

from .geometry import project_at_depth, root_to_head_distance, rotate, sample_virtual_cameras
from .skeleton import BONES

_BONE_INDEX = torch.tensor(BONES)  # (K, 2)


def bone_lengths(keypoints_3d: torch.Tensor) -> torch.Tensor:
    """Lengths ``(B, K)`` of the skeleton's bones in poses ``(B, J, 3)``."""
    index = _BONE_INDEX.to(keypoints_3d.device)
    return torch.linalg.vector_norm(keypoints_3d[:, index[:, 0]] - keypoints_3d[:, index[:, 1]], dim=-1)


def relative_bone_lengths_from_2d(keypoints_2d: torch.Tensor, percentile: float = 90.0) -> list[float]:
    """The bone prior's mean relative lengths ``(K,)`` estimated from 2D poses ``(N, J, 2)`` alone.

    A bone seen parallel to the image shows its full length, so across many views a high percentile of each
    bone's 2D length (per pose, over the root-to-head distance) tracks its 3D length; the lengths are then taken
    relative to their mean. This fits the prior to the skeleton convention of the data (where its hips or
    shoulders sit), which a fixed reference cannot: see ``BENCHMARKS.md``.
    """
    poses = keypoints_2d.double()
    lengths = bone_lengths(poses) / root_to_head_distance(poses)[:, None]  # (N, K)
    full = torch.quantile(lengths, percentile / 100, dim=0)
    return (full / full.mean()).tolist()


def likelihood_loss(log_prob: torch.Tensor) -> torch.Tensor:
    """L_NF (Eq. 4): mean negative log-likelihood of the virtual-view projections, ``log_prob`` ``(B,)``."""
    return -log_prob.mean()


def bone_loss(keypoints_3d: torch.Tensor, reference: torch.Tensor, std: float) -> torch.Tensor:
    """L_bone (Eq. 8): negative log of a Gaussian prior on bone lengths relative to the pose's mean bone length.

    ``keypoints_3d`` ``(B, J, 3)``, ``reference`` ``(K,)`` mean relative lengths; constant terms are dropped.
    """
    lengths = bone_lengths(keypoints_3d)  # (B, K)
    relative = lengths / lengths.mean(dim=1, keepdim=True)
    return ((relative - reference) ** 2).sum(dim=1).mean() / (2 * std**2)


def lifting_loss(relifted: torch.Tensor, rotated: torch.Tensor) -> torch.Tensor:
    """L_3D (Eq. 9): mean L2 distance between the virtual-view pose and its re-lifted version, ``(B, J, 3)``."""
    return torch.linalg.vector_norm((relifted - rotated).flatten(1), dim=1).mean()


def deformation_loss(back_rotated: torch.Tensor, keypoints_3d: torch.Tensor) -> torch.Tensor:
    """L_def (Eq. 10): the difference between poses ``a`` and ``b`` must survive the cycle, ``(B, J, 3)``.

    Pairs are consecutive batch items ``(0, 1), (2, 3), ...`` of a shuffled batch; an odd last item is unused.
    """
    pairs = keypoints_3d.shape[0] // 2 * 2
    before = keypoints_3d[:pairs].unflatten(0, (-1, 2))  # (P, 2, J, 3)
    after = back_rotated[:pairs].unflatten(0, (-1, 2))
    change = (after[:, 0] - after[:, 1]) - (before[:, 0] - before[:, 1])
    return torch.linalg.vector_norm(change.flatten(1), dim=1).mean()


def reprojection_loss(reprojected: torch.Tensor, keypoints_2d: torch.Tensor) -> torch.Tensor:
    """L_2D (Eq. 11): mean L1 distance between the input 2D pose and the cycle's reprojection, ``(B, J, 2)``."""
    return (reprojected - keypoints_2d).abs().flatten(1).sum(dim=1).mean()


def elepose_losses(
    lifter: torch.nn.Module,
    flow: torch.nn.Module,
    keypoints_2d: torch.Tensor,
    generator: torch.Generator | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """All loss terms for a batch of normalized 2D poses ``(B, J, 2)`` and the batch's predicted elevations.

    The pose is lifted, turned to a random virtual camera (elevation undone, random azimuth, elevation drawn from
    the batch's learned distribution), projected and scored by the frozen ``flow``; the projection is lifted again
    for the cycle losses. Returns ``({"loss", "likelihood", "bone", "lift_3d", "deformation", "reprojection_2d"},
    elevation (B,))``; ``"loss"`` is the weighted sum with the weights of ``lifter.config``.
    """
    config = lifter.config
    lifted = lifter(keypoints_2d)
    rotation = sample_virtual_cameras(
        lifted.elevation,
        config.use_elevation,
        config.fixed_elevation_range,
        generator,
        config.elevation_statistics_gradient,
    )  # (B, 3, 3)
    rotated = rotate(lifted.keypoints_3d, rotation)  # (B, J, 3)
    virtual_2d = project_at_depth(rotated, config.depth_offset)  # (B, J, 2)
    relifted = lifter(virtual_2d, predict_elevation=False).keypoints_3d
    back_rotated = rotate(relifted, rotation.transpose(-1, -2))
    reference = keypoints_2d.new_tensor(config.reference_bone_lengths)
    terms = {
        "likelihood": likelihood_loss(flow.log_prob(virtual_2d)),
        "bone": bone_loss(lifted.keypoints_3d, reference, config.bone_std),
        "lift_3d": lifting_loss(relifted, rotated),
        "deformation": deformation_loss(back_rotated, lifted.keypoints_3d),
        "reprojection_2d": reprojection_loss(project_at_depth(back_rotated, config.depth_offset), keypoints_2d),
    }
    weights = {
        "likelihood": config.loss_weight_likelihood,
        "bone": config.loss_weight_bone,
        "lift_3d": config.loss_weight_3d,
        "deformation": config.loss_weight_deformation,
        "reprojection_2d": config.loss_weight_2d,
    }
    terms["loss"] = weighted_sum(terms, weights)
    return terms, lifted.elevation


def weighted_sum(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """The full objective (Eq. 13): ``sum_k weights[k] * terms[k]`` over the weighted terms."""
    return sum(weight * terms[name] for name, weight in weights.items())


class ElePoseObjective(torch.nn.Module):
    """The lifter and its frozen flow prior as one module whose forward is [`elepose_losses`].

    One forward computes both lifter passes, so the module can be wrapped by DDP as a whole; only the lifter's
    parameters train.
    """

    def __init__(self, lifter: torch.nn.Module, flow: torch.nn.Module):
        super().__init__()
        self.lifter = lifter
        self.flow = flow.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> ElePoseObjective:
        self.lifter.train(mode)
        return self

    def forward(self, keypoints_2d: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return elepose_losses(self.lifter, self.flow, keypoints_2d)
