"""COCO person-keypoints JSON -> pose ``DatasetDict`` ``{"train": ...}`` (2D only, with per-joint confidence).

The 17 COCO keypoints become the 17 Human3.6M joints with ``elepose_hf.data.from_coco_json`` (mapping in
``elepose_hf.skeleton``); unlabelled keypoints get confidence 0 and annotations with fewer than ``--min-keypoints``
labelled keypoints are skipped.

    python conversion/convert_coco.py person_keypoints.json OUT_DIR [--min-keypoints 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import datasets

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversion._common import run_cli  # noqa: E402
from elepose_hf.data import from_coco_json  # noqa: E402


def convert_coco(path, min_keypoints: int = 8) -> datasets.DatasetDict:
    """COCO keypoints ``path`` -> ``DatasetDict({"train": Dataset})`` (``keypoints_2d`` pixels, ``confidence``)."""
    return datasets.DatasetDict({"train": from_coco_json(path, min_keypoints=min_keypoints)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="a COCO person-keypoints .json")
    parser.add_argument("output_dir", type=Path, help="where to save_to_disk the DatasetDict")
    parser.add_argument("--min-keypoints", type=int, default=8, help="skip annotations with fewer labelled keypoints")
    return run_cli(parser, lambda args: convert_coco(args.input, args.min_keypoints))


if __name__ == "__main__":
    sys.exit(main())
