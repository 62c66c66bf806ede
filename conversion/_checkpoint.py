"""What both checkpoint converters need: reading the authors' tensors safely and their pose layout."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping

import torch

from elepose_hf.skeleton import AUTHORS_ORDER, NUM_JOINTS

H36M_NORMALIZATION_SCALE = 145.5329587164913  # mean root-to-head distance of Human3.6M 2D poses, pixels

StateDictSource = Mapping[str, torch.Tensor] | str | os.PathLike


def load_state_dict(source: StateDictSource) -> dict[str, torch.Tensor]:
    """A state_dict given as a mapping, or read from a ``.pt`` file (tensors only: ``weights_only=True``)."""
    state = source
    if isinstance(source, (str, os.PathLike)):
        try:
            state = torch.load(source, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            raise ValueError(f"{source}: not a tensors-only PyTorch checkpoint ({err})") from err
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{source}: expected a plain state_dict (a mapping of names to tensors), got {type(state)}")
    return dict(state)


def check_keys(found: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], layout: str) -> None:
    """Raise a ``ValueError`` naming the missing and unexpected keys, or the first mismatched shapes."""
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    if missing or unexpected:
        raise ValueError(f"not the {layout} layout: missing keys {missing}, unexpected keys {unexpected}")
    wrong = [
        f"{key}: {tuple(found[key].shape)} (expected {tuple(value.shape)})"
        for key, value in expected.items()
        if found[key].shape != value.shape
    ]
    if wrong:
        raise ValueError(f"not the {layout} layout: wrong shapes {wrong}")


def authors_index() -> torch.Tensor:
    """For each entry ``j * 2 + c`` of this library's flat pose, its index ``c * 17 + j_auth`` in the authors'."""
    return torch.tensor([c * NUM_JOINTS + AUTHORS_ORDER[j] for j in range(NUM_JOINTS) for c in range(2)])
