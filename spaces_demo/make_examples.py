"""Write the demo's keypoint examples: 2D poses of the shipped CMU mocap seen through ElePose-Bench cameras.

``python spaces_demo/make_examples.py`` (deterministic) writes ``examples/cmu_four_people.npz`` (four poses side
by side, one row per person) and ``examples/cmu_pose.csv`` (one pose, named-column CSV).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from elepose_hf.data import from_mocap_npz, pose_arrays
from elepose_hf.skeleton import JOINT_NAMES

EXAMPLES = Path(__file__).resolve().parent / "examples"
GROUP_ACTIVITIES = ("walk", "swordplay", "basketball - dribble, shoot", "dance - expressive arms, pirouette")
CSV_ACTIVITY = "playground - forward jumps, turn around"
SPACING_PX = 400.0  # horizontal distance between the people of the group example


def _pick(arrays: dict[str, np.ndarray], activity: str) -> int:
    """The middle frame of the first take of ``activity``."""
    rows = np.flatnonzero(arrays["activity"] == activity)
    rows = rows[arrays["take"][rows] == arrays["take"][rows[0]]]
    return int(rows[len(rows) // 2])


def main() -> None:
    views = pose_arrays(from_mocap_npz(seed=0), ["keypoints_2d", "take", "activity"])  # 1000 x 1000 px images
    EXAMPLES.mkdir(exist_ok=True)

    rows = [_pick(views, activity) for activity in GROUP_ACTIVITIES]
    centres = SPACING_PX * (np.arange(len(rows)) + 0.5)  # side by side; each view is centred near x = 500
    group = views["keypoints_2d"][rows] + np.stack([centres - 500.0, np.zeros_like(centres)], axis=-1)[:, None]
    width = SPACING_PX * len(rows)
    np.savez_compressed(
        EXAMPLES / "cmu_four_people.npz",
        keypoints_2d=group.astype(np.float32),
        keypoint_format=np.asarray("h36m17"),
        image_size=np.array([width, 1000]),
        names=np.asarray([f"{views['activity'][r]} (CMU take {views['take'][r]})" for r in rows]),
    )

    row = _pick(views, CSV_ACTIVITY)
    header = ["name"] + [f"{joint}_{axis}" for joint in JOINT_NAMES for axis in "xy"]
    values = [f"{value:.2f}" for value in views["keypoints_2d"][row].reshape(-1)]
    name = f"CMU take {views['take'][row]}"
    (EXAMPLES / "cmu_pose.csv").write_text(",".join(header) + "\n" + ",".join([name, *values]) + "\n")


if __name__ == "__main__":
    main()
