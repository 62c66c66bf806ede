"""Throughput of ElePose on this machine: one training step of each stage (lifter + frozen flow; flow alone) as
training runs it (fused Adam, denormals flushed), batch 256, paper widths, and lifter inference (batch 4096).
Usage: ``python benchmarks/bench_forward.py [--bf16] [--compile-flow] [--steps N]``."""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from elepose_hf import ElePoseConfig, ElePoseLifter, PoseFlowConfig, PoseFlowPrior
from elepose_hf.losses import elepose_losses
from elepose_hf.training import FlowTrainingArguments, LifterTrainingArguments, adam_optimizer


def _timed(step, repeats: int) -> float:
    """Median seconds of ``step()`` over ``repeats`` runs after two warm-up runs."""
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--bf16", action="store_true", help="run under CPU bf16 autocast")
    parser.add_argument("--compile-flow", action="store_true", help="torch.compile the trained flow (flow step)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_flush_denormal(True)  # as training does
    poses = torch.randn(4096, 17, 2) * 0.03
    poses = poses - poses[:, :1]
    lifter = ElePoseLifter(ElePoseConfig())
    flow = PoseFlowPrior(PoseFlowConfig())
    flow.fit_pca(poses)
    frozen_flow = PoseFlowPrior(flow.config)
    frozen_flow.load_state_dict(flow.state_dict())
    frozen_flow.requires_grad_(False).eval()  # as ElePoseObjective holds it
    optimizer = adam_optimizer(lifter.parameters(), LifterTrainingArguments())
    flow_optimizer = adam_optimizer(flow.parameters(), FlowTrainingArguments())
    if args.compile_flow:
        flow.compile()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    batch = poses[:256]

    def lifter_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            terms, _ = elepose_losses(lifter, frozen_flow, batch)
        terms["loss"].backward()
        optimizer.step()

    def flow_step() -> None:
        flow_optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = -flow.log_prob(batch).mean()
        loss.backward()
        flow_optimizer.step()

    @torch.inference_mode()
    def inference() -> None:
        with autocast:
            lifter(poses)

    lifter.train()
    lifter_seconds = _timed(lifter_step, args.steps)
    flow_seconds = _timed(flow_step, args.steps)
    lifter.eval()
    inference_seconds = _timed(inference, args.steps)
    mode = ("bf16 autocast" if args.bf16 else "fp32") + (", compiled flow" if args.compile_flow else "")
    print(f"threads={torch.get_num_threads()} precision={mode}")
    print(f"lifter training step (batch 256): {lifter_seconds * 1e3:.1f} ms, {256 / lifter_seconds:,.0f} poses/s")
    print(f"flow training step (batch 256):   {flow_seconds * 1e3:.1f} ms, {256 / flow_seconds:,.0f} poses/s")
    rate = 4096 / inference_seconds
    print(f"lifter inference (batch 4096):    {inference_seconds * 1e3:.1f} ms, {rate:,.0f} poses/s")


if __name__ == "__main__":
    main()
