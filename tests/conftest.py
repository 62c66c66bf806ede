"""Shared fixtures: tiny model configs, the shared data folder, offline Hugging Face settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from elepose_hf import ElePoseConfig, ElePoseLifter, PoseFlowConfig, PoseFlowPrior
from elepose_hf.data import from_mocap_npz, pose_arrays
from elepose_hf.training import dataset_scale

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the shared data folder {SHARED} is absent")
    return SHARED


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def random_poses(generator) -> torch.Tensor:
    """Normalized-looking 2D poses (64, 17, 2): a fixed skeleton plus noise, root at the origin."""
    base = torch.randn(17, 2, generator=generator) * 0.05
    poses = base + 0.01 * torch.randn(64, 17, 2, generator=generator)
    return poses - poses[:, :1]


def tiny_lifter_and_flow() -> tuple[ElePoseLifter, PoseFlowPrior]:
    """A tiny untrained lifter + flow whose PCA is fitted on 2D views of the shipped CMU mocap."""
    torch.manual_seed(0)
    keypoints = torch.from_numpy(pose_arrays(from_mocap_npz(seed=1), ["keypoints_2d"])["keypoints_2d"][::5])
    scale = dataset_scale(keypoints)
    lifter = ElePoseLifter(
        ElePoseConfig(hidden_size=32, normalization_scale=scale, elevation_mean=0.2, elevation_std=0.1)
    )
    flow = PoseFlowPrior(PoseFlowConfig(hidden_size=16, num_blocks=2, normalization_scale=scale))
    flow.fit_pca(flow.normalize(keypoints))
    return lifter, flow
