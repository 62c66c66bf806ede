import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from elepose_hf import PoseFlowPrior
from elepose_hf.cli import main
from elepose_hf.losses import relative_bone_lengths_from_2d
from elepose_hf.model_dir import load_model_dir
from elepose_hf.skeleton import REFERENCE_RELATIVE_BONE_LENGTHS
from elepose_hf.training import CHECKPOINTS, FlowTrainingArguments, LifterTrainingArguments, lr_scheduler

TINY_FLOW = ["--hidden-size", "32", "--blocks", "2", "--pca-components", "12"]
QUIET = ["--no-progress", "--log-with", "none"]


@pytest.fixture
def bench_subset(tmp_path, shared_dir) -> tuple[Path, Path]:
    """A 600-pose training file (2D only) and a 200-pose validation file cut from ElePose-Bench val."""
    val = np.load(shared_dir / "data" / "bench" / "val.npz")
    train_file, val_file = tmp_path / "train.npz", tmp_path / "val.npz"
    np.savez(train_file, keypoints_2d=val["keypoints_2d"][:600], intrinsics=val["intrinsics"])
    np.savez(
        val_file,
        **{k: val[k][600:800] for k in ("keypoints_2d", "keypoints_3d", "camera_elevation_deg")},
        intrinsics=val["intrinsics"],
    )
    return train_file, val_file


def _train_flow(train: Path, output: Path, *extra: str) -> None:
    args = ["train-flow", "--train", str(train), "--output", str(output), "--epochs", "2", "--batch-size", "64"]
    assert main(args + TINY_FLOW + QUIET + list(extra)) == 0


def test_two_stages_through_the_cli(tmp_path, bench_subset, capsys):
    train, val = bench_subset
    _train_flow(train, tmp_path / "flow")
    args = ["train-lifter", "--train", str(train), "--flow", str(tmp_path / "flow"), "--val", str(val)]
    args += ["--output", str(tmp_path / "model"), "--epochs", "2", "--batch-size", "64", "--hidden-size", "32"]
    assert main(args + QUIET) == 0
    lifter, flow = load_model_dir(tmp_path / "model")
    assert lifter.config.elevation_std > 0
    assert lifter.config.normalization_scale == pytest.approx(flow.config.normalization_scale)
    assert flow.config.num_pca_components == 12 and not flow.pca_std.eq(1).all()
    assert (tmp_path / "model" / "best" / "flow" / "model.safetensors").is_file()
    output = lifter(lifter.normalize(torch.from_numpy(np.load(val)["keypoints_2d"][:5])))
    assert output.keypoints_3d.shape == (5, 17, 3) and torch.isfinite(output.keypoints_3d).all()
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "model"), str(val), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)[str(val)]
    assert set(metrics) == {"n_mpjpe", "pa_mpjpe", "n_pck", "auc", "cps", "elevation_error_deg"}
    assert 0 < metrics["pa_mpjpe"] < 1000


def test_compiled_flow_trains_like_the_eager_one(tmp_path, bench_subset):
    train, _ = bench_subset
    _train_flow(train, tmp_path / "eager", "--epochs", "1")
    _train_flow(train, tmp_path / "compiled", "--epochs", "1", "--compile")
    eager, compiled = (PoseFlowPrior.from_pretrained(tmp_path / name) for name in ("eager", "compiled"))
    assert eager.state_dict().keys() == compiled.state_dict().keys()
    for name, value in eager.state_dict().items():
        assert torch.allclose(compiled.state_dict()[name], value, atol=1e-5), name
    assert (tmp_path / "compiled" / CHECKPOINTS).is_dir()


def test_fine_tuning_starts_from_a_trained_model(tmp_path, bench_subset):
    train, _ = bench_subset
    _train_flow(train, tmp_path / "flow")
    common = ["--train", str(train), "--flow", str(tmp_path / "flow"), "--epochs", "1", "--batch-size", "64"]
    first = ["--output", str(tmp_path / "a"), "--hidden-size", "16", "--bone-reference", "h36m"]
    assert main(["train-lifter", *common, *first, *QUIET]) == 0
    tune = ["--output", str(tmp_path / "b"), "--init-from", str(tmp_path / "a")]
    assert main(["train-lifter", *common, *tune, *QUIET]) == 0
    first, _ = load_model_dir(tmp_path / "a")
    tuned, _ = load_model_dir(tmp_path / "b")
    assert tuned.config.hidden_size == 16  # the architecture comes from --init-from
    assert not torch.equal(first.upscale.weight, tuned.upscale.weight)
    estimate = relative_bone_lengths_from_2d(torch.from_numpy(np.load(train)["keypoints_2d"]))
    assert first.config.reference_bone_lengths == list(REFERENCE_RELATIVE_BONE_LENGTHS)
    assert tuned.config.reference_bone_lengths == pytest.approx(estimate)  # by default fitted to the new data


def test_killed_run_resumes_to_the_same_final_step(tmp_path, bench_subset):
    train, _ = bench_subset
    output = tmp_path / "flow"
    args = [sys.executable, "-m", "elepose_hf.cli", "train-flow", "--train", str(train), "--output", str(output)]
    args += ["--epochs", "12", "--batch-size", "16", "--checkpoint-every", "10", *TINY_FLOW, *QUIET]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not list((output / "checkpoints").glob("step-*")) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    steps = sorted(int(p.name.split("-")[1]) for p in (output / "checkpoints").glob("step-*"))
    assert steps and steps[-1] < 12 * (600 // 16), "the run finished before it could be killed"
    assert subprocess.run(args + ["--resume"], capture_output=True, timeout=300).returncode == 0
    final = max(int(p.name.split("-")[1]) for p in (output / "checkpoints").glob("step-*"))
    assert final == 12 * (600 // 16)
    assert (output / "model.safetensors").is_file()


def _learning_rates(args, per_epoch: int = 3) -> list[float]:
    """The rate of every optimizer step of a run of ``args.epochs`` epochs."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=args.learning_rate)
    scheduler = lr_scheduler(optimizer, args, per_epoch)
    rates = []
    for _ in range(per_epoch * args.epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_learning_rate_schedules():
    flow = _learning_rates(FlowTrainingArguments(epochs=3, learning_rate=1.0, lr_milestones=(1, 2)))
    assert flow == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01])
    lifter = _learning_rates(LifterTrainingArguments(epochs=2, learning_rate=1.0, lr_decay=0.5))
    assert lifter == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5])
    cosine = _learning_rates(LifterTrainingArguments(epochs=2, learning_rate=1.0, lr_schedule="cosine"))
    assert cosine[0] == 1 and cosine[3] == pytest.approx(0.5) and 0 < cosine[-1] < 0.1
    assert (np.diff(cosine) < 0).all()
    with pytest.raises(ValueError, match="lr_schedule 'linear'"):
        LifterTrainingArguments(lr_schedule="linear")
    with pytest.raises(ValueError, match="bone_reference 'coco'"):
        LifterTrainingArguments(bone_reference="coco")


def test_two_processes_share_the_epoch_and_keep_the_schedule(tmp_path, bench_subset):
    """CPU DDP under torchrun: 600 poses / (2 x 64) = 4 steps per epoch, and lr x 0.5 per epoch, not per process."""
    train, _ = bench_subset
    _train_flow(train, tmp_path / "flow")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "elepose_hf.cli", "train-lifter", "--train", str(train), "--flow", str(tmp_path / "flow")]
    command += ["--output", str(tmp_path / "m"), "--epochs", "2", "--batch-size", "64", "--hidden-size", "16"]
    command += ["--lr-decay", "0.5", *QUIET]
    environment = os.environ | {"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    checkpoints = tmp_path / "m" / CHECKPOINTS
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-4", "step-8"]  # no stray partial folder
    assert {p.name for p in (checkpoints / "step-8").glob("random_states_*")} == {
        f"random_states_{i}.pkl" for i in (0, 1)
    }
    for step, rate in (("step-4", 1e-4), ("step-8", 5e-5)):
        optimizer = torch.load(checkpoints / step / "optimizer.bin", weights_only=False)
        assert optimizer["param_groups"][0]["lr"] == pytest.approx(rate)
    lifter, _ = load_model_dir(tmp_path / "m")
    assert lifter.config.hidden_size == 16 and lifter.config.elevation_std > 0


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"keypoints": np.zeros((300, 17, 2))}, "keypoints_2d"),
        ({"keypoints_2d": np.zeros((300, 16, 2))}, "keypoints_2d"),
    ],
)
def test_malformed_training_data_fails_before_training(tmp_path, arrays, message, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    assert main(["train-flow", "--train", str(bad), "--output", str(tmp_path / "out"), *QUIET]) == 2
    error = capsys.readouterr().err
    assert message in error and "error" in error
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_nan_rows_are_named(tmp_path, bench_subset, capsys):
    train, _ = bench_subset
    keypoints = np.load(train)["keypoints_2d"].copy()
    keypoints[[3, 7], 2, 0] = np.nan
    bad = tmp_path / "nan.npz"
    np.savez(bad, keypoints_2d=keypoints)
    assert main(["train-flow", "--train", str(bad), "--output", str(tmp_path / "out"), *QUIET]) == 2
    error = capsys.readouterr().err
    assert "keypoints_2d" in error and "3" in error and "7" in error


def test_push_to_hub_uploads_the_model_directory_and_card(tmp_path, bench_subset, monkeypatch):
    import huggingface_hub

    train, _ = bench_subset
    _train_flow(train, tmp_path / "flow")
    args = ["train-lifter", "--train", str(train), "--flow", str(tmp_path / "flow"), "--output", str(tmp_path / "m")]
    assert main(args + ["--epochs", "1", "--batch-size", "64", "--hidden-size", "16", *QUIET]) == 0
    card = tmp_path / "card.md"
    card.write_text("---\nlibrary_name: elepose-hf\n---\n# card\n")
    calls = []

    def record(name):
        return lambda self, *a, **k: calls.append((name, a, k)) or f"https://hub/{name}"

    for name in ("create_repo", "upload_folder", "upload_file"):
        monkeypatch.setattr(huggingface_hub.HfApi, name, record(name))
    assert main(["push-to-hub", str(tmp_path / "m"), "me/elepose", "--model-card", str(card)]) == 0
    (_, create_args, _), (_, _, folder), (_, _, file) = calls
    assert create_args == ("me/elepose",) and folder["folder_path"] == str(tmp_path / "m")
    assert "checkpoints/*" in folder["ignore_patterns"] and file["path_in_repo"] == "README.md"
    assert main(["push-to-hub", str(tmp_path / "flow"), "me/elepose"]) == 2  # a flow alone is not a model directory
