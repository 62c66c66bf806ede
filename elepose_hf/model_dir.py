"""Model directories: the lifter at the root and its flow prior in ``flow/``, written atomically, pushed whole."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .modeling_elepose import ElePoseLifter, PoseFlowPrior

FLOW_SUBFOLDER = "flow"
MODEL_CARD = "README.md"
# Training by-products that stay local when a model directory is pushed.
NOT_PUSHED = ["checkpoints/*", "best/*", "elepose-lifter/*", "elepose-flow/*", ".*"]


def publish(partial: Path, directory: Path) -> None:
    """Move every entry of the fully written folder ``partial`` into ``directory``, one atomic rename each.

    Other entries of ``directory`` (checkpoints, logs) stay; a replaced sub-folder is renamed away before removal.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for entry in sorted(partial.iterdir()):
        target = directory / entry.name
        if target.is_dir():
            stale = directory / f".old-{entry.name}"
            shutil.rmtree(stale, ignore_errors=True)
            os.replace(target, stale)
            os.replace(entry, target)
            shutil.rmtree(stale)
        else:
            os.replace(entry, target)
    partial.rmdir()


def save_model_dir(
    lifter: ElePoseLifter | None, flow: PoseFlowPrior, directory: Path, model_card: str | None = None
) -> None:
    """Write a model directory: the lifter at its root and the flow in ``flow/``, or the flow alone at the root;
    ``model_card`` (markdown) becomes its ``README.md``, what the Hub shows."""
    directory = Path(directory)
    partial = directory.parent / f".partial-{directory.name}"
    shutil.rmtree(partial, ignore_errors=True)
    if lifter is None:
        flow.save_pretrained(partial)
    else:
        lifter.save_pretrained(partial)
        flow.save_pretrained(partial / FLOW_SUBFOLDER)
    if model_card is not None:
        (partial / MODEL_CARD).write_text(model_card)
    publish(partial, directory)


def load_model_dir(directory: str | Path) -> tuple[ElePoseLifter, PoseFlowPrior]:
    """Lifter and flow of a model directory written by [`save_model_dir`]."""
    lifter = ElePoseLifter.from_pretrained(directory)
    flow = PoseFlowPrior.from_pretrained(directory, subfolder=FLOW_SUBFOLDER)
    return lifter.eval(), flow.eval()


def push_model_dir(
    directory: str | Path,
    repo_id: str,
    model_card: str | Path | None = None,
    private: bool = False,
    token: str | None = None,
) -> str:
    """Upload a model directory (lifter, ``flow/``, model code) to the Hub, with ``model_card`` (a markdown file;
    default: the directory's own ``README.md``) as the repository's ``README.md``.

    Checkpoints, the ``best/`` copy and logs stay local. Returns the URL of the last commit.
    """
    from huggingface_hub import HfApi

    directory = Path(directory)
    if not (directory / "config.json").is_file() or not (directory / FLOW_SUBFOLDER / "config.json").is_file():
        raise ValueError(f"{directory}: not a model directory (needs config.json and {FLOW_SUBFOLDER}/config.json)")
    if model_card is not None and not Path(model_card).is_file():
        raise ValueError(f"{model_card}: no such model card file")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id, folder_path=str(directory), ignore_patterns=NOT_PUSHED, commit_message="Upload ElePose model"
    )
    if model_card is not None:
        commit = api.upload_file(
            path_or_fileobj=str(model_card), path_in_repo=MODEL_CARD, repo_id=repo_id, commit_message="Model card"
        )
    return str(commit)
