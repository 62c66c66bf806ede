import os
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import AutoConfig, AutoModel

from elepose_hf import ElePoseConfig, ElePoseLifter, PoseFlowConfig, PoseFlowPrior
from elepose_hf.geometry import project


@pytest.fixture
def flow(random_poses) -> PoseFlowPrior:
    model = PoseFlowPrior(PoseFlowConfig(num_pca_components=6, num_blocks=3, hidden_size=32))
    model.fit_pca(random_poses)
    return model


@pytest.fixture
def lifter() -> ElePoseLifter:
    return ElePoseLifter(ElePoseConfig(hidden_size=32, normalization_scale=40.0))


def test_flow_inverse_recovers_input(flow, generator):
    coefficients = torch.randn(32, 6, generator=generator, dtype=torch.float64)
    flow.double()
    latent, _ = flow.flow(coefficients)
    assert torch.allclose(flow.inverse(latent), coefficients, atol=1e-10)


@pytest.mark.parametrize("clamp_mode", ["scaled", "unscaled"])
def test_flow_log_det_matches_autograd_jacobian(clamp_mode, generator):
    torch.manual_seed(0)
    flow = PoseFlowPrior(PoseFlowConfig(num_pca_components=5, num_blocks=2, hidden_size=16, clamp_mode=clamp_mode))
    with torch.no_grad():  # make the coupling non-trivial
        for parameter in flow.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    flow.double()
    for coefficients in torch.randn(3, 5, generator=generator, dtype=torch.float64):
        jacobian = torch.autograd.functional.jacobian(lambda c: flow.flow(c.unsqueeze(0))[0][0], coefficients)
        _, log_det = flow.flow(coefficients.unsqueeze(0))
        # the mixing matrices are stored in float32, so their determinant is 1 only to ~1e-7
        assert torch.allclose(log_det[0], torch.linalg.slogdet(jacobian).logabsdet, atol=1e-6)


def test_autocast_reaches_only_the_coupling_subnetworks_of_a_training_flow(flow, random_poses):
    subnet_dtypes = []
    for block in flow.blocks:
        block.subnet.register_forward_hook(lambda module, inputs, output: subnet_dtypes.append(output.dtype))
    exact = flow(random_poses)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        training = flow(random_poses)
        frozen = flow.eval()(random_poses)
    assert subnet_dtypes == [torch.float32] * 3 + [torch.bfloat16] * 3 + [torch.float32] * 3
    assert training.latent.dtype == training.log_det.dtype == training.log_prob.dtype == torch.float32
    assert not torch.equal(training.log_prob, exact.log_prob)
    assert torch.allclose(training.log_prob, exact.log_prob, rtol=1e-3)
    assert torch.equal(frozen.log_prob, exact.log_prob)


def test_pca_reconstructs_the_training_subspace(random_poses):
    flow = PoseFlowPrior(PoseFlowConfig(num_pca_components=34, num_blocks=1, hidden_size=8))
    ratio = flow.fit_pca(random_poses)
    assert torch.allclose(ratio.sum(), torch.tensor(1.0)) and torch.all(ratio[:-1] >= ratio[1:])
    assert torch.allclose(flow.from_latent(flow.to_latent(random_poses)), random_poses, atol=1e-5)
    components = flow.pca_components
    assert torch.allclose(components @ components.T, torch.eye(34), atol=1e-5)


def test_trained_flow_prefers_real_poses_to_shuffled_joints(generator):
    base = torch.randn(17, 2, generator=generator) * 0.05
    poses = base + 0.003 * torch.randn(512, 17, 2, generator=generator)
    poses = poses - poses[:, :1]
    flow = PoseFlowPrior(PoseFlowConfig(num_pca_components=8, num_blocks=2, hidden_size=32, whiten=True))
    flow.fit_pca(poses)
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-3)
    start = -flow.log_prob(poses).mean().item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = -flow.log_prob(poses).mean()
        loss.backward()
        optimizer.step()
    assert loss.item() < start
    shuffled = poses[:, torch.randperm(17, generator=generator)]
    with torch.no_grad():
        assert flow.log_prob(poses).mean() > flow.log_prob(shuffled).mean() + 10
    samples = flow.sample(256, generator=generator)
    assert samples.shape == (256, 17, 2) and torch.isfinite(samples).all()


def test_lifter_outputs_unproject_the_input(lifter, random_poses):
    lifter.eval()
    output = lifter(random_poses)
    assert output.keypoints_3d.shape == (64, 17, 3) and output.elevation.shape == (64,)
    assert torch.allclose(output.keypoints_3d[:, 0], torch.zeros(64, 3))
    assert torch.allclose(output.depth[:, 0], torch.full((64,), 10.0))  # fix_root_depth
    placed = output.keypoints_3d + torch.tensor([0.0, 0.0, 10.0])
    assert torch.allclose(project(placed), random_poses, atol=1e-5)


def test_depth_is_clipped_only_in_training(lifter, random_poses):
    with torch.no_grad():
        lifter.depth_head.bias.fill_(-50.0)
    lifter.train()
    assert lifter(random_poses).depth[:, 1:].min() == 1.0
    lifter.eval()
    assert lifter(random_poses).depth[:, 1:].max() < 0


@pytest.mark.parametrize(
    ("make_model", "match"),
    [
        (lambda: ElePoseLifter(ElePoseConfig(hidden_size=8)), None),
        (lambda: PoseFlowPrior(PoseFlowConfig(num_pca_components=4, num_blocks=1, hidden_size=8)), None),
    ],
)
def test_bad_input_is_named(make_model, match):
    model = make_model()
    with pytest.raises(ValueError, match=r"keypoints_2d must have shape \(batch, 17, 2\), got \(2, 16, 2\)"):
        model(torch.zeros(2, 16, 2))
    bad = torch.zeros(3, 17, 2)
    bad[2, 5, 0] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or infinite values in 1 pose\(s\), rows \[2\]"):
        model(bad)


def test_normalize_needs_a_scale_and_a_nonzero_pose():
    lifter = ElePoseLifter(ElePoseConfig(hidden_size=8))
    with pytest.raises(ValueError, match="no normalization_scale"):
        lifter.normalize(torch.randn(2, 17, 2))
    per_pose = ElePoseLifter(ElePoseConfig(hidden_size=8, normalization="per_pose"))
    with pytest.raises(ValueError, match="zero root-to-head distance"):
        per_pose.normalize(torch.ones(2, 17, 2))


def test_config_validation():
    with pytest.raises(ValueError, match="num_joints must be 17"):
        ElePoseConfig(num_joints=16)
    with pytest.raises(ValueError, match="clamp_mode"):
        PoseFlowConfig(clamp_mode="soft")
    with pytest.raises(ValueError, match="num_pca_components"):
        PoseFlowConfig(num_pca_components=40)


def test_configs_carry_joint_names_and_edges():
    config = ElePoseConfig()
    assert config.id2label[10] == "head" and len(config.edges) == 16
    assert PoseFlowConfig(num_pca_components=None).latent_size == 34


def _assert_same_parameters(first: torch.nn.Module, second: torch.nn.Module) -> None:
    first_state, second_state = first.state_dict(), second.state_dict()
    assert first_state.keys() == second_state.keys()
    for name, tensor in first_state.items():
        assert torch.equal(tensor, second_state[name]), name


def test_round_trip_is_bit_exact_and_auto_classes_resolve(tmp_path, flow, lifter, random_poses):
    lifter.config.elevation_mean, lifter.config.elevation_std = 0.2, 0.1
    for model, name in ((flow, "flow"), (lifter, "lifter")):
        model.save_pretrained(tmp_path / name)
        assert (tmp_path / name / "model.safetensors").is_file()
        assert not list((tmp_path / name).glob("*.bin"))
        reloaded = AutoModel.from_pretrained(tmp_path / name)
        assert type(reloaded) is type(model)
        assert type(AutoConfig.from_pretrained(tmp_path / name)) is type(model.config)
        _assert_same_parameters(model, reloaded)
        model.eval(), reloaded.eval()
        assert torch.equal(model(random_poses)[0], reloaded(random_poses)[0])
    assert AutoConfig.from_pretrained(tmp_path / "lifter").elevation_mean == 0.2


def test_saved_directory_loads_with_remote_code_without_the_package(tmp_path, flow, random_poses):
    flow.eval()
    flow.save_pretrained(tmp_path / "flow")
    torch.save({"poses": random_poses, "log_prob": flow.log_prob(random_poses).detach()}, tmp_path / "ref.pt")
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["elepose_hf"] = None  # the package cannot be imported in this interpreter
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / "flow")!r}, trust_remote_code=True).eval()
        assert "elepose_hf" not in type(model).__module__, type(model).__module__
        reference = torch.load({str(tmp_path / "ref.pt")!r}, weights_only=True)
        assert torch.equal(model.log_prob(reference["poses"]), reference["log_prob"])
        print("remote-code-ok")
        """
    )
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=120
    )
    assert "remote-code-ok" in result.stdout, result.stderr[-3000:]
