"""Checkpoint converters: the authors' flow against FrEIA 0.2, their lifter against a re-implementation of theirs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModel

import elepose_hf  # noqa: F401  (registers the models with AutoModel)
from conversion import convert_official_flow as flow_converter
from conversion import convert_official_lifter as lifter_converter
from elepose_hf import ElePoseLifter, PoseFlowConfig, PoseFlowPrior
from elepose_hf.skeleton import AUTHORS_ORDER

REPO = Path(__file__).resolve().parents[1]

OFFICIAL_FLOW = REPO.parent / "shared" / "official" / "model_inn_h36m_17j_pretrain_inn_gt_pca_bases_26_headnorm.pt"
HIDDEN = 64  # lifter width in these tests (the converter infers it)


def to_ours(authors_flat: torch.Tensor) -> torch.Tensor:
    """Authors' flat poses ``(B, 34)`` (index ``c * 17 + j_auth``) -> our poses ``(B, 17, 2)``."""
    return authors_flat.unflatten(1, (2, 17)).transpose(1, 2)[:, list(AUTHORS_ORDER)]


def to_authors(poses: torch.Tensor) -> torch.Tensor:
    """Our poses ``(B, 17, 2)`` -> the authors' flat layout ``(B, 34)``."""
    return poses[:, list(AUTHORS_ORDER)].transpose(1, 2).flatten(1)


# ---------------------------------------------------------------------------------------------------------
# Flow
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def official_state() -> dict[str, torch.Tensor]:
    if not OFFICIAL_FLOW.is_file():
        pytest.skip(f"the authors' flow checkpoint {OFFICIAL_FLOW} is absent")
    return flow_converter.load_state_dict(OFFICIAL_FLOW)


@pytest.fixture(scope="module")
def freia_flow(official_state) -> nn.Module:
    """The authors' flow as they built it, with FrEIA 0.2 (whose AllInOneBlock clamps as ``2 * tanh(a)``)."""
    Ff = pytest.importorskip("FrEIA.framework")
    Fm = pytest.importorskip("FrEIA.modules")

    def subnet_fc(c_in: int, c_out: int) -> nn.Module:
        return nn.Sequential(nn.Linear(c_in, 1024), nn.ReLU(), nn.Linear(1024, c_out))

    inn = Ff.SequenceINN(26)
    for _ in range(8):
        inn.append(Fm.AllInOneBlock, subnet_constructor=subnet_fc, permute_soft=True)
    inn.load_state_dict(official_state)
    return inn.double().eval()


@pytest.fixture(scope="module")
def authors_pca() -> tuple[torch.Tensor, torch.Tensor]:
    """A random PCA in the authors' layout: mean ``(34,)``, 30 orthonormal components ``(30, 34)`` (float32)."""
    generator = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(34, 30, generator=generator, dtype=torch.float64))
    return (0.05 * torch.randn(34, generator=generator)), q.T.float()


@torch.no_grad()
def test_flow_matches_freia(official_state, freia_flow, authors_pca):
    mean, components = authors_pca
    model = flow_converter.convert_official_flow(official_state, mean, components)
    config = model.config
    assert (config.num_blocks, config.hidden_size, config.latent_size) == (8, 1024, 26)
    assert (config.whiten, config.clamp_mode, config.clamp, config.normalized_head_length) == (
        False,
        "unscaled",
        2,
        0.1,
    )
    assert config.normalization_scale == pytest.approx(145.5329587164913)
    model.double()  # float32 round-off alone reaches ~1e-4 on z (the flow scales small coefficients up ~1000x)

    # Poses where the flow has its mass: FrEIA's inverse of Gaussian latents, plus noise off the PCA subspace.
    generator = torch.Generator().manual_seed(2)
    basis = components[:26].double()
    coefficients, _ = freia_flow(torch.randn(256, 26, generator=generator, dtype=torch.float64), rev=True)
    authors_flat = mean.double() + coefficients @ basis + 1e-3 * torch.randn(256, 34, generator=generator).double()

    reference_coefficients = (authors_flat - mean.double()) @ basis.T
    reference_z, reference_log_det = freia_flow(reference_coefficients)
    poses = to_ours(authors_flat)
    assert torch.allclose(model.to_latent(poses), reference_coefficients, rtol=0, atol=1e-12)
    z, log_det = model.flow(model.to_latent(poses))
    assert torch.allclose(z, reference_z, rtol=0, atol=1e-5)
    assert torch.allclose(log_det, reference_log_det, rtol=0, atol=1e-5)
    output = model(poses)
    reference_log_prob = -0.5 * reference_z.square().sum(1) - 13 * math.log(2 * math.pi) + reference_log_det
    assert torch.allclose(output.log_det, reference_log_det, rtol=0, atol=1e-5)
    assert torch.allclose(model.log_prob(poses), reference_log_prob, rtol=0, atol=1e-5)

    # The comparison tells the clamps apart: current FrEIA's 2 * tanh(a / 2) is far off.
    for block in model.blocks:
        block.clamp_mode = "scaled"
    assert (model.flow(model.to_latent(poses))[0] - reference_z).abs().max() > 1e-2


def test_flow_refuses_without_pca(official_state, tmp_path):
    with pytest.raises(ValueError, match="never released the PCA"):
        flow_converter.convert_official_flow(official_state, None, None)
    out = tmp_path / "flow"
    with pytest.raises(SystemExit) as exit_info:
        flow_converter.main([str(OFFICIAL_FLOW), str(out)])
    assert "--pca" in str(exit_info.value.code) and "never released the PCA" in str(exit_info.value.code)
    assert not out.exists()


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda state: state.pop("module_list.5.subnet.2.bias"), "module_list.5.subnet.2.bias"),
        (lambda state: state.update({"module_list.2.extra": torch.zeros(1)}), "module_list.2.extra"),
        (lambda state: state.update({"module_list.3.w_perm": torch.eye(25)}), "module_list.3.w_perm"),
        (lambda state: state.pop("module_list.0.global_scale"), "module_list.0.global_scale"),
    ],
    ids=["missing", "unexpected", "shape", "missing-first"],
)
def test_flow_wrong_layout_names_the_key(official_state, authors_pca, edit, named):
    state = dict(official_state)
    edit(state)
    with pytest.raises(ValueError, match=f"not the authors' flow.*{named.replace('.', '[.]')}"):
        flow_converter.convert_official_flow(state, *authors_pca)


def test_flow_rejects_bad_pca_and_other_models(official_state, authors_pca):
    mean, components = authors_pca
    with pytest.raises(ValueError, match=r"components must have shape \(k >= 26, 34\)"):
        flow_converter.convert_official_flow(official_state, mean, components[:20])
    with pytest.raises(ValueError, match=r"mean must have shape \(34,\)"):
        flow_converter.convert_official_flow(official_state, mean[:33], components)
    lifter_state = _authors_lifter().state_dict()
    with pytest.raises(ValueError, match="no 'module_list"):
        flow_converter.convert_official_flow(lifter_state, mean, components)


def test_flow_cli_writes_a_loadable_model(official_state, authors_pca, tmp_path, capsys):
    mean, components = authors_pca
    pca_path = tmp_path / "pca.npz"
    np.savez(pca_path, mean=mean.numpy(), components=components.numpy())
    out = tmp_path / "flow"
    flow_converter.main([str(OFFICIAL_FLOW), str(out), "--pca", str(pca_path)])
    assert str(out) in capsys.readouterr().out

    expected = flow_converter.convert_official_flow(official_state, mean, components)
    poses = to_ours(mean + 0.01 * torch.randn(8, 34, generator=torch.Generator().manual_seed(3)))
    for loaded in (PoseFlowPrior.from_pretrained(out), AutoModel.from_pretrained(out)):
        assert isinstance(loaded, PoseFlowPrior)
        assert loaded.config.clamp_mode == "unscaled" and not loaded.config.whiten
        state = loaded.state_dict()
        assert all(torch.equal(state[key], value) for key, value in expected.state_dict().items())
        assert torch.equal(loaded.log_prob(poses), expected.log_prob(poses))


def test_flow_cli_fits_the_pca_on_a_pose_dataset(tmp_path):
    generator = torch.Generator().manual_seed(4)
    pixels = 500 + 40 * torch.randn(17, 2, generator=generator) + 5 * torch.randn(300, 17, 2, generator=generator)
    confidence = np.ones((300, 17), np.float32)
    confidence[:10, 3] = 0  # incomplete poses are left out of the fit
    dataset_path = tmp_path / "poses.npz"
    np.savez(dataset_path, keypoints_2d=pixels.numpy(), confidence=confidence)
    out = tmp_path / "flow"
    flow_converter.main([str(OFFICIAL_FLOW), str(out), "--pca", str(dataset_path), "--normalization-scale", "50"])

    loaded = PoseFlowPrior.from_pretrained(out)
    assert loaded.config.normalization_scale == 50
    normalized = loaded.normalize(pixels[10:])
    assert torch.allclose(loaded.pca_mean, normalized.flatten(1).mean(0), atol=1e-6)
    reference = PoseFlowPrior(PoseFlowConfig(num_pca_components=26, num_blocks=1, hidden_size=8))
    reference.fit_pca(normalized)
    assert torch.allclose(loaded.pca_components, reference.pca_components, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------
# Lifter
# ---------------------------------------------------------------------------------------------------------


class _ResBlock(nn.Module):
    """The authors' residual block: batch norms are built but never applied."""

    def __init__(self, width: int):
        super().__init__()
        self.l1 = nn.Linear(width, width)
        self.bn1 = nn.BatchNorm1d(width)
        self.l2 = nn.Linear(width, width)
        self.bn2 = nn.BatchNorm1d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.leaky_relu(self.l2(nn.functional.leaky_relu(self.l1(x)))) + x


class _DepthAngleEstimator(nn.Module):
    """The authors' lifter: flat authors'-layout input -> depth offsets (their joint order) and angle."""

    def __init__(self, width: int):
        super().__init__()
        self.upscale = nn.Linear(34, width)
        self.res_common = _ResBlock(width)
        self.res_pose1 = _ResBlock(width)
        self.res_pose2 = _ResBlock(width)
        self.depth = nn.Linear(width, 17)
        self.res_angle1 = _ResBlock(width)
        self.res_angle2 = _ResBlock(width)
        self.angles = nn.Linear(width, 1)

    def forward(self, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lrelu = nn.functional.leaky_relu
        x = lrelu(self.res_common(self.upscale(inp)))
        depth = self.depth(lrelu(self.res_pose2(lrelu(self.res_pose1(x)))))
        angle = self.angles(lrelu(self.res_angle2(lrelu(self.res_angle1(x)))))
        return depth, angle


def _authors_lifter() -> _DepthAngleEstimator:
    """A reference lifter with random weights (batch-norm statistics included, so using them would show)."""
    generator = torch.Generator().manual_seed(5)
    model = _DepthAngleEstimator(HIDDEN)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.randn(tensor.shape, generator=generator)
                tensor.copy_(values.abs() + 0.5 if "running_var" in name else 0.2 * values)
    return model.eval()


@torch.no_grad()
def test_lifter_matches_the_authors_network():
    reference = _authors_lifter()
    model = lifter_converter.convert_official_lifter(reference.state_dict())
    assert not model.training and model.config.hidden_size == HIDDEN and not model.config.input_activation
    poses = 0.1 * torch.randn(32, 17, 2, generator=torch.Generator().manual_seed(6))

    depth, angle = reference(to_authors(poses))
    depth = depth[:, list(AUTHORS_ORDER)]
    depth[:, 0] = 0
    output = model(poses)
    assert torch.allclose(output.depth, depth + 10, rtol=0, atol=1e-5)
    assert torch.allclose(output.elevation, -angle.squeeze(1), rtol=0, atol=1e-5)
    assert output.elevation.abs().max() > 0.1 and (depth[:, 1:] - depth[:, 1:].mean()).abs().max() > 0.1


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda state: state.pop("depth.bias"), "depth.bias"),
        (lambda state: state.update({"res_common.l3.weight": torch.zeros(1)}), "res_common.l3.weight"),
        (lambda state: state.update({"res_pose2.l1.weight": torch.zeros(HIDDEN, 3)}), "res_pose2.l1.weight"),
        (lambda state: state.pop("upscale.weight"), "upscale.weight"),
    ],
    ids=["missing", "unexpected", "shape", "missing-first"],
)
def test_lifter_wrong_layout_names_the_key(edit, named):
    state = dict(_authors_lifter().state_dict())
    edit(state)
    with pytest.raises(ValueError, match=f"not the authors' lifter.*{named.replace('.', '[.]')}"):
        lifter_converter.convert_official_lifter(state)


def test_lifter_batchnorm_is_optional():
    state = {key: value for key, value in _authors_lifter().state_dict().items() if ".bn" not in key}
    assert lifter_converter.convert_official_lifter(state).config.hidden_size == HIDDEN


def test_lifter_cli_writes_a_loadable_model(tmp_path, capsys):
    reference = _authors_lifter()
    checkpoint = tmp_path / "lifter.pt"
    torch.save(reference.state_dict(), checkpoint)
    out = tmp_path / "lifter"
    lifter_converter.main([str(checkpoint), str(out), "--normalization-scale", "80"])
    assert str(out) in capsys.readouterr().out

    expected = lifter_converter.convert_official_lifter(reference.state_dict(), normalization_scale=80)
    poses = 0.1 * torch.randn(8, 17, 2, generator=torch.Generator().manual_seed(7))
    for loaded in (ElePoseLifter.from_pretrained(out), AutoModel.from_pretrained(out)):
        assert isinstance(loaded, ElePoseLifter) and loaded.config.normalization_scale == 80
        loaded.eval()
        with torch.no_grad():
            assert torch.equal(loaded(poses).depth, expected(poses).depth)
            assert torch.equal(loaded(poses).elevation, expected(poses).elevation)
