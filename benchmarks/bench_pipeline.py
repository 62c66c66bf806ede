"""Inference throughput of ``ElePosePipeline`` on this machine: poses/s for a large batch with and without the
likelihood (``num_projections``), and single-pose latency.

    python benchmarks/bench_pipeline.py [--model DIR] [--poses 100000] [--nll-poses 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from elepose_hf import ElePosePipeline
from elepose_hf.data import from_mocap_npz, pose_arrays


def _seconds(call, repeats: int = 1) -> float:
    """Best wall time of ``call()`` over ``repeats`` runs, after one warm-up run."""
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory (default: the bundled model)")
    parser.add_argument("--poses", type=int, default=100_000)
    parser.add_argument("--nll-poses", type=int, default=2_000)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    pipeline = ElePosePipeline.from_pretrained(args.model, device="cpu")
    views = pose_arrays(from_mocap_npz(views_per_pose=8, seed=0), ["keypoints_2d"])["keypoints_2d"]
    poses = np.resize(views, (args.poses, *views.shape[1:]))  # (N, 17, 2) pixels
    lifter, flow = pipeline.lifter.config, pipeline.flow.config
    print(f"lifter width {lifter.hidden_size}, flow width {flow.hidden_size}; threads {torch.get_num_threads()}")
    seconds = _seconds(lambda: pipeline(poses, num_projections=0))
    print(f"{args.poses} poses, no likelihood: {seconds:.2f} s, {args.poses / seconds:,.0f} poses/s")
    subset = poses[: args.nll_poses]
    for projections in (10, 100):
        seconds = _seconds(lambda p=projections: pipeline(subset, num_projections=p))
        print(f"{len(subset)} poses, {projections} projections: {seconds:.2f} s, {len(subset) / seconds:,.0f} poses/s")
    single = poses[0]
    for projections in (0, 100):
        seconds = _seconds(lambda p=projections: pipeline(single, num_projections=p), repeats=20)
        print(f"one pose, {projections} projections: {seconds * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
