"""Evaluation metrics for 3D human pose (MPJPE, N-MPJPE, PA-MPJPE, N-PCK, AUC, CPS).

Poses are ``(N, J, 3)`` arrays in millimetres with joint 0 as the root. Every function accepts numpy
arrays or torch tensors and returns the same kind. There is one implementation, in torch: numpy inputs
are computed in float64 and converted back at the edge; torch inputs keep their dtype and device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

__all__ = [
    "root_centre",
    "mpjpe",
    "n_mpjpe",
    "procrustes_align",
    "pa_mpjpe",
    "pck",
    "auc",
    "cps",
    "pose_metrics",
]


# ----------------------------------------------------------------------------------------------------------
# numpy/torch boundary and validation
# ----------------------------------------------------------------------------------------------------------


def _prepare(**arrays: np.ndarray | torch.Tensor) -> tuple[list[torch.Tensor], Callable]:
    """Validate ``(N, J, 3)`` inputs and convert them to tensors.

    Returns the tensors and a function that converts a result back to the input kind: numpy if every
    input is numpy, else torch. Numpy inputs become float64 tensors (on the device/dtype of the first
    tensor input when inputs are mixed).
    """
    ref = next((a for a in arrays.values() if isinstance(a, torch.Tensor)), None)
    shape = None
    tensors = []
    for name, a in arrays.items():
        if isinstance(a, torch.Tensor):
            t = a if a.is_floating_point() else a.to(torch.get_default_dtype())
        else:
            t = torch.as_tensor(np.asarray(a, dtype=np.float64))
            if ref is not None:
                t = t.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else t.dtype)
        if t.ndim != 3 or t.shape[-1] != 3:
            raise ValueError(f"`{name}` must have shape (N, J, 3), got {tuple(t.shape)}")
        if shape is not None and t.shape != shape:
            first = next(iter(arrays))
            raise ValueError(f"`{name}` must have the same shape as `{first}` {tuple(shape)}, got {tuple(t.shape)}")
        shape = t.shape
        tensors.append(t)

    def to_out(x: torch.Tensor) -> np.ndarray | torch.Tensor:
        if ref is not None:
            return x
        out = x.detach().cpu().numpy()
        return out[()] if out.ndim == 0 else out  # 0-d array -> numpy scalar

    return tensors, to_out


def _thresholds(max_threshold: float, step: float, like: torch.Tensor) -> torch.Tensor:
    """Thresholds ``0, step, 2*step, ..., <= max_threshold`` as a ``(T,)`` tensor."""
    if step <= 0 or max_threshold < 0:
        raise ValueError(f"need step > 0 and max_threshold >= 0, got step={step}, max={max_threshold}")
    n = math.floor(max_threshold / step + 1e-9) + 1
    return torch.arange(n, dtype=like.dtype, device=like.device) * step


# ----------------------------------------------------------------------------------------------------------
# torch kernels (validated tensors in, tensors out)
# ----------------------------------------------------------------------------------------------------------


def _root_centre(poses: torch.Tensor, root: int = 0) -> torch.Tensor:
    return poses - poses[:, root : root + 1]  # (N, J, 3)


def _joint_errors(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(pred - target, dim=-1)  # (N, J)


def _n_align(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root-centre both and scale pred by the per-pose least-squares scale <p,t>/<p,p>."""
    p, t = _root_centre(pred), _root_centre(target)  # (N, J, 3)
    tiny = torch.finfo(p.dtype).tiny
    scale = (p * t).sum((-2, -1)) / (p * p).sum((-2, -1)).clamp_min(tiny)  # (N,)
    return scale[:, None, None] * p, t


def _procrustes(pred: torch.Tensor, target: torch.Tensor, allow_reflection: bool) -> torch.Tensor:
    mu_p = pred.mean(-2, keepdim=True)  # (N, 1, 3)
    mu_t = target.mean(-2, keepdim=True)  # (N, 1, 3)
    x, y = pred - mu_p, target - mu_t  # (N, J, 3)
    u, sv, vh = torch.linalg.svd(x.mT @ y)  # (N, 3, 3), (N, 3), (N, 3, 3); x^T y = U diag(sv) Vh
    if not allow_reflection:
        # Proper rotation: R = U diag(1, 1, d) Vh with d = det(U Vh), i.e. flip the last singular vector.
        d = torch.where(torch.linalg.det(u @ vh) < 0, -1.0, 1.0).to(sv.dtype)  # (N,)
        u = torch.cat([u[..., :-1], u[..., -1:] * d[:, None, None]], dim=-1)
        sv = torch.cat([sv[..., :-1], sv[..., -1:] * d[:, None]], dim=-1)
    rot = u @ vh  # (N, 3, 3); row-vector convention: x @ rot ~ y
    tiny = torch.finfo(x.dtype).tiny
    scale = sv.sum(-1) / (x * x).sum((-2, -1)).clamp_min(tiny)  # (N,)
    return scale[:, None, None] * (x @ rot) + mu_t  # (N, J, 3)


def _pck_curve(errors: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Percentage of joints with error <= each threshold: (N, J), (T,) -> (N, T)."""
    return (errors[..., None] <= thresholds).to(errors.dtype).mean(-2) * 100.0


def _cps(errors: torch.Tensor, max_threshold: float, step: float) -> torch.Tensor:
    """CPS from Procrustes-aligned per-joint errors (N, J) -> scalar."""
    thr = _thresholds(max_threshold, step, errors)  # (T,)
    frac = (errors.amax(-1)[:, None] <= thr).to(errors.dtype).mean(0)  # (T,) fraction of correct poses
    return frac.mean() * max_threshold


# ----------------------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------------------


def root_centre(poses: Array, root: int = 0) -> Array:
    """Subtract the root joint from every joint: ``(N, J, 3) -> (N, J, 3)``."""
    (p,), out = _prepare(poses=poses)
    return out(_root_centre(p, root))


def mpjpe(pred: Array, target: Array) -> Array:
    """Mean per-joint position error after root-centring both poses: ``(N, J, 3) x2 -> (N,)``."""
    (p, t), out = _prepare(pred=pred, target=target)
    return out(_joint_errors(_root_centre(p), _root_centre(t)).mean(-1))


def n_mpjpe(pred: Array, target: Array) -> Array:
    """Scale-normalised MPJPE (Rhodin et al. 2018): ``(N, J, 3) x2 -> (N,)``.

    Both poses are root-centred, then pred is scaled by ``s = <pred, target> / <pred, pred>`` (per pose,
    over all joints and coordinates), the least-squares optimal scale, before computing MPJPE.
    """
    (p, t), out = _prepare(pred=pred, target=target)
    return out(_joint_errors(*_n_align(p, t)).mean(-1))


def procrustes_align(pred: Array, target: Array, allow_reflection: bool = False) -> Array:
    """Align pred to target by the optimal similarity transform: ``(N, J, 3) x2 -> (N, J, 3)``.

    Solves ``min_{s,R,t} ||s * pred @ R + t - target||`` per pose via SVD (Umeyama/Kabsch). By default
    ``R`` is a proper rotation (det = +1; the last singular vector is flipped when needed). With
    ``allow_reflection=True``, ``R`` may be a reflection (det = -1), as in the ElePose/CanonPose authors'
    evaluation code, which can give slightly lower errors for mirrored predictions.
    """
    (p, t), out = _prepare(pred=pred, target=target)
    return out(_procrustes(p, t, allow_reflection))


def pa_mpjpe(pred: Array, target: Array, allow_reflection: bool = False) -> Array:
    """Procrustes-aligned MPJPE: ``(N, J, 3) x2 -> (N,)``.

    Mean joint error between ``procrustes_align(pred, target)`` and target (no re-centring: the alignment
    already includes the optimal translation).
    """
    (p, t), out = _prepare(pred=pred, target=target)
    return out(_joint_errors(_procrustes(p, t, allow_reflection), t).mean(-1))


def pck(pred: Array, target: Array, threshold: float = 150.0) -> Array:
    """N-PCK: percentage (0-100) of joints with error <= threshold mm: ``(N, J, 3) x2 -> (N,)``.

    Errors are measured after the N-MPJPE alignment (root-centring and least-squares scale of pred).
    """
    (p, t), out = _prepare(pred=pred, target=target)
    thr = torch.tensor([float(threshold)], dtype=p.dtype, device=p.device)  # (1,)
    return out(_pck_curve(_joint_errors(*_n_align(p, t)), thr)[:, 0])


def auc(pred: Array, target: Array, max_threshold: float = 150.0, step: float = 5.0) -> Array:
    """Area under the N-PCK curve, in percent: ``(N, J, 3) x2 -> (N,)``.

    Mean of ``pck`` over thresholds ``0, step, ..., max_threshold`` (31 values by default).
    """
    (p, t), out = _prepare(pred=pred, target=target)
    err = _joint_errors(*_n_align(p, t))  # (N, J)
    return out(_pck_curve(err, _thresholds(max_threshold, step, err)).mean(-1))


def cps(
    pred: Array,
    target: Array,
    max_threshold: float = 300.0,
    step: float = 1.0,
    allow_reflection: bool = False,
) -> Array:
    """Correct Poses Score (Wandt et al., CanonPose 2021), in mm, as a scalar (0-d).

    After Procrustes alignment, a pose is correct at threshold ``t`` if EVERY joint error is ``<= t``.
    With thresholds ``t_k = 0, step, ..., max_threshold`` (301 values by default) and ``f(t_k)`` the
    fraction of correct poses::

        CPS = max_threshold * mean_k f(t_k)

    i.e. the area under the fraction-vs-threshold curve, in ``[0, max_threshold]``.
    """
    (p, t), out = _prepare(pred=pred, target=target)
    return out(_cps(_joint_errors(_procrustes(p, t, allow_reflection), t), max_threshold, step))


def pose_metrics(
    pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor, allow_reflection: bool = False
) -> dict[str, float]:
    """All metrics averaged over poses, as Python floats.

    Keys: ``mpjpe``, ``n_mpjpe``, ``pa_mpjpe`` (mm), ``n_pck`` (@150 mm, %), ``auc`` (%), ``cps`` (mm).
    """
    (p, t), _ = _prepare(pred=pred, target=target)
    n_err = _joint_errors(*_n_align(p, t))  # (N, J)
    pck150 = torch.tensor([150.0], dtype=p.dtype, device=p.device)  # (1,)
    pa_err = _joint_errors(_procrustes(p, t, allow_reflection), t)  # (N, J)
    return {
        "mpjpe": _joint_errors(_root_centre(p), _root_centre(t)).mean().item(),
        "n_mpjpe": n_err.mean().item(),
        "pa_mpjpe": pa_err.mean().item(),
        "n_pck": _pck_curve(n_err, pck150).mean().item(),
        "auc": _pck_curve(n_err, _thresholds(150.0, 5.0, n_err)).mean().item(),
        "cps": _cps(pa_err, 300.0, 1.0).item(),
    }
