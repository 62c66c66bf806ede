"""The flow's training step (batch 256, paper widths, fused Adam) in fp32 and bf16, eager and compiled, with the
variants' steps interleaved so that a drift of the machine's speed reaches all of them alike.

Usage: ``python benchmarks/bench_flow_step.py [--steps N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from elepose_hf import PoseFlowConfig, PoseFlowPrior
from elepose_hf.training import FlowTrainingArguments, adam_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    torch.set_flush_denormal(True)  # as training does
    poses = torch.randn(4096, 17, 2, generator=torch.Generator().manual_seed(0)) * 0.03
    poses = poses - poses[:, :1]
    batch = poses[:256]

    def variant(bf16: bool, compiled: bool):
        torch.manual_seed(0)
        flow = PoseFlowPrior(PoseFlowConfig())
        flow.fit_pca(poses)
        if compiled:
            flow.compile()
        optimizer = adam_optimizer(flow.parameters(), FlowTrainingArguments())

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                loss = -flow.log_prob(batch).mean()
            loss.backward()
            optimizer.step()

        return step

    steps = {
        f"{'bf16' if bf16 else 'fp32'} {'compiled' if compiled else 'eager'}": variant(bf16, compiled)
        for compiled in (False, True)
        for bf16 in (False, True)
    }
    for _ in range(3):  # warm-up; compiles the compiled variants
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.steps):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    print(f"threads={torch.get_num_threads()}, {args.steps} interleaved steps each")
    for name, values in times.items():
        values.sort()
        median, p10, p90 = (values[int(q * (len(values) - 1))] * 1e3 for q in (0.5, 0.1, 0.9))
        print(f"{name:<14} median {median:5.1f} ms ({256e3 / median:,.0f} poses/s), p10 {p10:.1f}, p90 {p90:.1f}")


if __name__ == "__main__":
    main()
