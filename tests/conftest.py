"""Shared fixtures: tiny model configs, the shared data folder, offline Hugging Face settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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
