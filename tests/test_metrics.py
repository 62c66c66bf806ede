import math

import numpy as np
import pytest
import torch

from elepose_hf.metrics import (
    auc,
    cps,
    mpjpe,
    n_mpjpe,
    pa_mpjpe,
    pck,
    pose_metrics,
    procrustes_align,
    root_centre,
)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def _octahedron(length: float, gamma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Target: 6 joints at +-length*e_i. Pred: same with the z-joints shrunk by gamma.

    With gamma = 0.5, the Procrustes solution is R = I, s = 10/9, so the aligned errors are
    length/9 (x and y joints) and 4*length/9 (z joints).
    """
    target = length * np.concatenate([np.eye(3), -np.eye(3)])  # (6, 3)
    pred = target * np.array([1.0, 1.0, gamma])
    return pred, target


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_procrustes_recovers_similarity_transform(kind: str) -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(scale=300.0, size=(4, 17, 3))
    rots = np.stack([_random_rotation(rng) for _ in range(4)])
    trans = rng.normal(scale=1000.0, size=(4, 1, 3))
    pred = 1.7 * target @ rots + trans
    if kind == "torch":
        pred, target = torch.from_numpy(pred), torch.from_numpy(target)
    aligned = procrustes_align(pred, target)
    err = pa_mpjpe(pred, target)
    assert type(aligned) is type(target) and type(err) is type(target)
    assert err.shape == (4,)
    np.testing.assert_allclose(np.asarray(aligned), np.asarray(target), atol=1e-6)
    np.testing.assert_allclose(np.asarray(err), 0.0, atol=1e-6)


def test_reflection_handling() -> None:
    rng = np.random.default_rng(1)
    target = rng.normal(scale=300.0, size=(3, 17, 3))
    reflected = target * np.array([1.0, 1.0, -1.0])
    proper = pa_mpjpe(reflected, target)
    improper = pa_mpjpe(reflected, target, allow_reflection=True)
    assert np.all(proper > 10.0)
    np.testing.assert_allclose(improper, 0.0, atol=1e-6)
    # a proper rotation never changes the handedness of the prediction
    # a proper rotation cannot undo the mirroring: re-aligning the aligned pose changes nothing
    aligned = procrustes_align(reflected, target)
    np.testing.assert_allclose(pa_mpjpe(aligned, target), proper, rtol=1e-9)


def test_n_mpjpe_is_scale_invariant() -> None:
    rng = np.random.default_rng(2)
    target = rng.normal(scale=300.0, size=(5, 17, 3))
    pred = 0.3 * target + rng.normal(size=(5, 1, 3))  # scaled copy with a different root position
    np.testing.assert_allclose(n_mpjpe(pred, target), 0.0, atol=1e-6)
    assert np.all(mpjpe(pred, target) > 10.0)


def _hand_example() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2 poses, 4 joints. Pose 0: each pred joint p satisfies p.t = p.p, so the N-MPJPE scale is exactly
    1 and the errors are sqrt(5000), sqrt(4000), sqrt(1000) (root: 0). Pose 1: pred == target."""
    target0 = np.array([[0, 0, 0], [100, 0, 0], [0, 200, 0], [0, 0, 100]], dtype=float)
    pred0 = np.array([[0, 0, 0], [50, 50, 0], [0, 180, 60], [30, 0, 90]], dtype=float)
    target1 = np.array([[0, 0, 0], [0, 0, 250], [120, 0, 0], [0, -80, 0]], dtype=float)
    target = np.stack([target0, target1]) + np.array([[[10, -20, 30]], [[-5, 7, 2000]]])
    pred = np.stack([pred0, target1]) + np.array([[[400, 3, -9]], [[1, 1, 1]]])  # roots differ
    errors = np.array([[0, math.sqrt(5000), math.sqrt(4000), math.sqrt(1000)], [0, 0, 0, 0]])
    return pred, target, errors


def test_hand_computed_values() -> None:
    pred, target, errors = _hand_example()  # errors: [0, 70.71, 63.25, 31.62], [0, 0, 0, 0]
    np.testing.assert_allclose(mpjpe(pred, target), errors.mean(1), rtol=1e-12)
    np.testing.assert_allclose(n_mpjpe(pred, target), errors.mean(1), rtol=1e-12)
    np.testing.assert_allclose(pck(pred, target, threshold=65.0), [75.0, 100.0])
    np.testing.assert_allclose(pck(pred, target, threshold=50.0), [50.0, 100.0])
    np.testing.assert_allclose(pck(pred, target), [100.0, 100.0])
    # N-PCK is scale invariant
    np.testing.assert_allclose(pck(2.5 * pred, target, threshold=65.0), [75.0, 100.0])
    # thresholds 0..150 step 5: joints counted for 31, 16 (>=75), 18 (>=65), 24 (>=35) thresholds
    np.testing.assert_allclose(auc(pred, target), [100.0 * 89 / 124, 100.0])
    c = root_centre(pred)
    np.testing.assert_allclose(c[:, 0], 0.0)
    np.testing.assert_allclose(c, pred - pred[:, :1])


def test_cps_hand_computed() -> None:
    # Aligned max joint errors 4*L/9: L = 1.125 -> 0.5 mm, L = 91 -> 40.44 mm, L = 226 -> 100.44 mm.
    preds, targets = zip(*(_octahedron(length, 0.5) for length in (1.125, 91.0, 226.0)), strict=True)
    rng = np.random.default_rng(3)
    rot = _random_rotation(rng)
    pred = np.stack(preds) @ rot + np.array([5.0, -3.0, 100.0])  # a similarity change doesn't matter
    target = np.stack(targets)
    np.testing.assert_allclose(pa_mpjpe(pred, target), [2 * L / 9 for L in (1.125, 91.0, 226.0)], rtol=1e-9)
    # f(t) over t = 0..300: the poses are correct from t = 1, 41, 101 -> 300 + 260 + 200 hits out of 3*301
    expected = 300.0 * (300 + 260 + 200) / (3 * 301)
    value = cps(pred, target)
    assert isinstance(value, np.floating)
    assert value == pytest.approx(expected, rel=1e-12)
    assert float(cps(torch.from_numpy(pred), torch.from_numpy(target))) == pytest.approx(expected, rel=1e-12)
    # (near-)perfect predictions score max_threshold, up to the t = 0 threshold that needs exact equality
    assert 300.0 * 300 / 301 - 1e-9 <= cps(target + 1e-3, target) <= 300.0


def test_numpy_torch_agree() -> None:
    rng = np.random.default_rng(4)
    target = rng.normal(scale=300.0, size=(8, 17, 3))
    pred = target + rng.normal(scale=60.0, size=(8, 17, 3))
    pt, tt = torch.from_numpy(pred), torch.from_numpy(target)
    for fn in (root_centre, mpjpe, n_mpjpe, procrustes_align, pa_mpjpe, pck, auc, cps):
        args = (pred,) if fn is root_centre else (pred, target)
        targs = (pt,) if fn is root_centre else (pt, tt)
        res_np, res_t = fn(*args), fn(*targs)
        assert isinstance(res_t, torch.Tensor)
        assert isinstance(res_np, np.ndarray | np.floating)
        np.testing.assert_allclose(res_np, res_t.numpy(), atol=1e-6, err_msg=fn.__name__)
    # float32 tensors agree to float32 precision
    np.testing.assert_allclose(pa_mpjpe(pt.float(), tt.float()).numpy(), pa_mpjpe(pred, target), rtol=1e-4)
    m_np, m_t = pose_metrics(pred, target), pose_metrics(pt, tt)
    assert set(m_np) == {"mpjpe", "n_mpjpe", "pa_mpjpe", "n_pck", "auc", "cps"}
    assert all(type(v) is float for v in m_np.values())
    for key, val in m_np.items():
        assert val == pytest.approx(m_t[key], abs=1e-6)
    assert m_np["mpjpe"] == pytest.approx(float(mpjpe(pred, target).mean()))
    assert m_np["pa_mpjpe"] == pytest.approx(float(pa_mpjpe(pred, target).mean()))
    assert m_np["n_pck"] == pytest.approx(float(pck(pred, target).mean()))
    assert m_np["auc"] == pytest.approx(float(auc(pred, target).mean()))
    assert m_np["cps"] == pytest.approx(float(cps(pred, target)))


def test_wrong_shapes_raise() -> None:
    good = np.zeros((2, 17, 3))
    with pytest.raises(ValueError, match=r"`pred`.*\(N, J, 3\).*\(2, 17, 2\)"):
        mpjpe(np.zeros((2, 17, 2)), good)
    with pytest.raises(ValueError, match=r"`target`.*\(17, 3\)"):
        pa_mpjpe(good, np.zeros((17, 3)))
    with pytest.raises(ValueError, match=r"`target`.*same shape.*\(2, 16, 3\)"):
        pck(good, np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match=r"`poses`"):
        root_centre(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"`pred`"):
        pose_metrics(torch.zeros(2, 17), torch.zeros(2, 17, 3))
