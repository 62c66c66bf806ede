"""ElePose demo (Gradio): a photo or a 2D keypoint file in; the 3D pose, camera elevation and plausibility out.

``python spaces_demo/app.py`` serves it on http://127.0.0.1:7860 with the bundled model, or the model directory
(or Hub repo id) in ``ELEPOSE_MODEL``. It runs offline (``HF_HUB_OFFLINE=1`` and no Gradio analytics unless the
environment says otherwise). Photos need the keypoint detector (``pip install 'elepose-hf[detector]'``); keypoint
files (COCO or OpenPose ``.json``, ElePose ``.npz``, ``.csv``) do not.

The page is a thin layer over pure functions: ``lift`` (an uploaded file -> [`Lifted`]), ``show`` (one person of
it -> 2D view, 3D figure, summary) and ``lift_upload`` (both, with every problem turned into a readable message).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import json
import logging
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from elepose_hf.keypoint_io import IMAGE_SUFFIXES, read_keypoints
from elepose_hf.pipeline import MIN_OBSERVED_JOINTS, ElePosePipeline, LiftResult
from elepose_hf.skeleton import JOINT_NAMES, SKELETON_EDGES

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
KEYPOINT_SUFFIXES = (".json", ".npz", ".csv")
MAX_UPLOAD_MB = 20
CANVAS_PX = 800  # longer side of the 2D view
SIDE_COLOURS = {"left": "#1f77b4", "right": "#d62728", "centre": "#444444"}
OTHER_PERSON_COLOUR = "#b0b0b0"
# System fonts only: the default theme would fetch its fonts from the internet.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
EXAMPLES = (
    ("sports2d_demo_frame.jpg", "Photo: Sports2D demo frame"),
    ("pose2sim_cam01_frame.jpg", "Photo: Pose2Sim demo frame"),
    ("cmu_four_people.npz", "Keypoints: four CMU mocap poses (.npz)"),
    ("cmu_pose.csv", "Keypoints: one CMU mocap pose (.csv)"),
)
UNITS = {
    "keypoints_3d": "lifter units, camera frame (x right, y down, z forward), root-relative",
    "keypoints_3d_metric": "metres, camera frame, for a body height of 1.75 m",
    "keypoints_3d_upright": "metres, levelled by the predicted elevation: y is gravity (down)",
    "camera_elevation_deg": "degrees; positive = camera above the person, looking down",
    "keypoints_2d": "input pixels, Human3.6M joint order, missing joints completed",
}
INTRO = f"""# ElePose: 2D → 3D human pose
Upload a **photo** of one person or a **2D keypoint file** (COCO or OpenPose `.json`, ElePose `.npz`, `.csv`;
up to {MAX_UPLOAD_MB} MB). ElePose ([Wandt et al., CVPR 2022](https://arxiv.org/abs/2112.07088)) lifts every pose to
3D, estimates the camera elevation, and scores how plausible the pose is under its normalizing-flow prior."""
NO_DETECTOR = (
    "\n\n**Photos are not available here:** the keypoint detector (MediaPipe) is not installed "
    "(`pip install 'elepose-hf[detector]'`). Keypoint files work."
)
INSTRUCTIONS = "Upload a file or pick an example below."
ATTRIBUTION = """Example photos: demo frames of [Sports2D](https://github.com/davidpagnon/Sports2D) and
[Pose2Sim](https://github.com/perfanalytics/pose2sim) (BSD-3-Clause). Keypoint examples and the training data come
from the CMU Graphics Lab Motion Capture Database: the data used in this project was obtained from
mocap.cs.cmu.edu. The database was created with funding from NSF EIA-0196217."""


@dataclass
class Lifted:
    """An upload after lifting: every person's result and what the 2D view is drawn on.

    Args:
        result: the pipeline's result, one row per lifted person.
        photo: ``(H, W, 3)`` uint8 RGB for a photo, None for a keypoint file (drawn on a blank canvas).
        region: ``(x0, y0, x1, y1)`` the pixel area the 2D view shows.
        skipped: labels of the people left out for having too few visible joints.
        json_path: the downloadable result (all people).
    """

    result: LiftResult
    photo: np.ndarray | None
    region: tuple[float, float, float, float]
    skipped: list[str]
    json_path: str


def has_detector() -> bool:
    """Whether photos can be read: the optional keypoint detector (MediaPipe) imports."""
    try:
        import elepose_hf.detector  # noqa: F401
    except ImportError:
        return False
    return True


def _check_upload(path: Path) -> None:
    """``ValueError`` for a missing, empty, oversized or unsupported file."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path}: the file is empty")
    if size > MAX_UPLOAD_MB * 2**20:
        raise ValueError(f"{path}: the file is {size / 2**20:.0f} MB; the demo accepts up to {MAX_UPLOAD_MB} MB")
    if path.suffix.lower() not in IMAGE_SUFFIXES + KEYPOINT_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; upload a photo "
            f"({', '.join(IMAGE_SUFFIXES)}) or a keypoint file ({', '.join(KEYPOINT_SUFFIXES)})"
        )


def _label(result: LiftResult, person: int) -> str:
    return result.names[person] if result.names else f"person {result.index[person] + 1}"


def _write_json(result: LiftResult, source: str) -> str:
    """Every person's result as JSON in a fresh temporary folder; returns the file's path."""
    path = Path(tempfile.mkdtemp(prefix="elepose-demo-")) / f"{Path(source).stem}_elepose.json"
    payload = {
        "source": source,
        "joint_names": list(JOINT_NAMES),
        "bones": SKELETON_EDGES,
        "units": UNITS,
        "poses": result.to_records(),
    }
    path.write_text(json.dumps(payload, indent=1))
    return str(path)


def lift(pipeline: ElePosePipeline, path: str | Path) -> Lifted:
    """Read an uploaded photo or keypoint file and lift every person in it; ``ValueError`` when it can't be.

    People with fewer than ``MIN_OBSERVED_JOINTS`` visible joints are skipped (and listed in the summary).
    """
    path = Path(path)
    _check_upload(path)
    keypoints = read_keypoints(path)  # photos go through the detector
    result = pipeline(keypoints, skip_incomplete=True)
    skipped = sorted(set(range(len(keypoints))) - set(result.index.tolist()))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        from elepose_hf.detector import load_rgb  # importable: read_keypoints used it

        photo = load_rgb(path)
        region = (0.0, 0.0, float(photo.shape[1]), float(photo.shape[0]))
    else:
        photo = None
        points = result.keypoints_2d.reshape(-1, 2)
        low, high = points.min(axis=0), points.max(axis=0)
        margin = 0.1 * max(high - low) + 1.0
        low, high = low - margin, high + margin
        if keypoints.image_size is not None:  # show the whole image too
            low, high = np.minimum(low, 0.0), np.maximum(high, keypoints.image_size)
        region = (float(low[0]), float(low[1]), float(high[0]), float(high[1]))
    return Lifted(
        result=result,
        photo=photo,
        region=region,
        skipped=[keypoints.names[i] if keypoints.names else f"person {i + 1}" for i in skipped],
        json_path=_write_json(result, path.name),
    )


def _side(joint: int) -> str:
    return {"l": "left", "r": "right"}.get(JOINT_NAMES[joint][0], "centre")


def draw_2d(lifted: Lifted, person: int) -> np.ndarray:
    """The 2D skeletons on the photo or a blank canvas (``CANVAS_PX`` on the longer side), ``person`` in colour
    and the others grey; completed joints as open circles. Returns ``(H, W, 3)`` uint8."""
    x0, y0, x1, y1 = lifted.region
    scale = CANVAS_PX / max(x1 - x0, y1 - y0)
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    canvas = Image.new("RGB", size, "white") if lifted.photo is None else Image.fromarray(lifted.photo).resize(size)
    draw = ImageDraw.Draw(canvas)
    result = lifted.result
    points = (result.keypoints_2d - np.array([x0, y0], dtype=np.float32)) * scale  # (N, 17, 2) canvas pixels
    order = [p for p in range(len(result)) if p != person] + [person]  # the chosen person on top
    for p in order:
        chosen = p == person
        for parent, child in SKELETON_EDGES:
            colour = SIDE_COLOURS[_side(child)] if chosen else OTHER_PERSON_COLOUR
            draw.line([tuple(points[p, parent]), tuple(points[p, child])], fill=colour, width=4 if chosen else 2)
        radius = 5 if chosen else 3
        for joint, (x, y) in enumerate(points[p]):
            box = (x - radius, y - radius, x + radius, y + radius)
            colour = SIDE_COLOURS[_side(joint)] if chosen else OTHER_PERSON_COLOUR
            completed = result.missing_joints[p, joint]
            draw.ellipse(box, fill="white" if completed else colour, outline=colour, width=2)
    return np.asarray(canvas)


def figure_3d(lifted: Lifted, person: int) -> go.Figure:
    """Rotatable 3D view of the upright pose (metres, equal aspect, z up, seen from about the camera)."""
    pose = lifted.result.keypoints_3d_upright[person].astype(np.float64)  # (17, 3): x right, y down, z forward
    xyz = np.stack([pose[:, 0], pose[:, 2], -pose[:, 1]], axis=-1)  # plot axes: x right, y away, z up
    figure = go.Figure()
    for side, colour in SIDE_COLOURS.items():
        segments = [np.vstack([xyz[a], xyz[b], [np.nan] * 3]) for a, b in SKELETON_EDGES if _side(b) == side]
        x, y, z = np.concatenate(segments).T
        line = {"color": colour, "width": 8}
        figure.add_trace(go.Scatter3d(x=x, y=y, z=z, mode="lines", line=line, name=side, hoverinfo="skip"))
    completed = lifted.result.missing_joints[person]
    figure.add_trace(
        go.Scatter3d(
            x=xyz[:, 0],
            y=xyz[:, 1],
            z=xyz[:, 2],
            mode="markers",
            marker={
                "size": 4,
                "color": [SIDE_COLOURS[_side(j)] for j in range(len(JOINT_NAMES))],
                "symbol": ["circle-open" if c else "circle" for c in completed],
            },
            text=[f"{name} (completed)" if c else name for name, c in zip(JOINT_NAMES, completed, strict=True)],
            hovertemplate="%{text}<extra></extra>",
            name="joints",
        )
    )
    low, high = xyz.min(axis=0), xyz.max(axis=0)
    centre, half = (low + high) / 2, 0.6 * max(high - low) + 0.05
    floor_x, floor_y = centre[0] + half * np.array([-1, 1, 1, -1]), centre[1] + half * np.array([-1, -1, 1, 1])
    figure.add_trace(
        go.Mesh3d(
            x=floor_x,
            y=floor_y,
            z=np.full(4, low[2]),
            i=[0, 0],
            j=[1, 2],
            k=[2, 3],
            color="#9ab",
            opacity=0.25,
            hoverinfo="skip",
            name="ground (level)",
        )
    )
    axes = {
        f"{axis}axis": {"range": [c - half, c + half], "title": title}
        for axis, c, title in zip("xyz", centre, ("x (m)", "depth (m)", "up (m)"), strict=True)
    }
    camera = {"eye": {"x": 0.0, "y": -1.9, "z": 0.5}, "up": {"x": 0, "y": 0, "z": 1}}
    figure.update_layout(
        scene={**axes, "aspectmode": "cube", "camera": camera},
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        height=480,
        legend={"orientation": "h"},
    )
    return figure


def summary(lifted: Lifted, person: int) -> str:
    """Markdown: the person's plausibility, NLL, camera elevation and completed joints."""
    result = lifted.result
    heading = f"### {_label(result, person)}"
    if len(result) > 1:
        heading += f" (person {person + 1} of {len(result)})"
    elevation = float(result.camera_elevation_deg[person])
    direction = "above the person, looking down" if elevation >= 0 else "below the person, looking up"
    completed = [name for name, c in zip(JOINT_NAMES, result.missing_joints[person], strict=True) if c]
    lines = [
        heading,
        f"- **Plausibility:** {result.plausibility[person]:.2f} (share of poses sampled from the model's prior that"
        " are less likely: about 0.5 is typical, near 0 implausible)",
        f"- **NLL:** {result.nll[person]:.1f} (negative log-likelihood under the flow prior; lower is more plausible)",
        f"- **Camera elevation:** {elevation:+.1f}° (camera {direction})",
        f"- **Completed joints:** {', '.join(completed) or 'none'}",
    ]
    if lifted.skipped:
        lines.append(
            f"\n{len(lifted.skipped)} person(s) skipped, with fewer than {MIN_OBSERVED_JOINTS} of 17 joints "
            f"visible: {', '.join(lifted.skipped[:5])}{' ...' if len(lifted.skipped) > 5 else ''}"
        )
    return "\n".join(lines)


def show(lifted: Lifted, person: int) -> tuple[np.ndarray, go.Figure, str]:
    """The 2D view, 3D figure and summary of one lifted person."""
    return draw_2d(lifted, person), figure_3d(lifted, person), summary(lifted, person)


def lift_upload(
    pipeline: ElePosePipeline, path: str | Path | None
) -> tuple[np.ndarray | None, go.Figure | None, str, str | None, Lifted | None]:
    """An upload -> ``(2D view, 3D figure, summary markdown, JSON path, Lifted)`` of its first person.

    Never raises: a bad upload gives ``(None, None, message, None, None)`` with a readable message.
    """
    if not path:
        return None, None, INSTRUCTIONS, None, None
    name = Path(path).name
    try:
        lifted = lift(pipeline, path)
    except ValueError as err:  # what the readers and the pipeline say about a bad input
        message = str(err).replace(f"{path}: ", "").replace(str(path), name)
        return None, None, f"**Could not lift `{name}`:** {message}", None, None
    except Exception as err:  # anything else: keep serving, tell the user, log the details
        logger.exception("lifting %s failed", path)
        return None, None, f"**Could not lift `{name}`:** unexpected error ({type(err).__name__})", None, None
    return *show(lifted, 0), lifted.json_path, lifted


def _on_upload(pipeline: ElePosePipeline, path: str | None) -> tuple[Any, ...]:
    """The upload event: outputs plus the person selector (shown for multi-person files) and the state."""
    image, figure, text, json_path, lifted = lift_upload(pipeline, path)
    choices = [] if lifted is None else [(_label(lifted.result, p), p) for p in range(len(lifted.result))]
    selector = gr.update(choices=choices, value=0 if choices else None, visible=len(choices) > 1)
    return image, figure, text, json_path, selector, lifted


def _on_person(person: int | None, lifted: Lifted | None) -> tuple[Any, ...]:
    if lifted is None or person is None:
        return gr.update(), gr.update(), gr.update()
    return show(lifted, int(person))


def build_demo(pipeline: ElePosePipeline) -> gr.Blocks:
    """The demo page for ``pipeline``."""
    # delete_cache: every hour, drop uploads and results older than an hour
    with gr.Blocks(title="ElePose: 2D to 3D human pose", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO + ("" if has_detector() else NO_DETECTOR))
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                upload = gr.File(label="Photo or keypoint file", file_types=[*IMAGE_SUFFIXES, *KEYPOINT_SUFFIXES])
                person = gr.Dropdown(label="Person", choices=[], visible=False, interactive=True)
                text = gr.Markdown(INSTRUCTIONS, elem_id="summary")
                download = gr.File(label="Result (JSON, every person)", interactive=False)
            with gr.Column(scale=3), gr.Row():
                image = gr.Image(label="2D keypoints", interactive=False, format="png")
                plot = gr.Plot(label="3D pose, levelled (drag to rotate)", elem_id="pose3d")
        examples = [(EXAMPLES_DIR / file, label) for file, label in EXAMPLES if (EXAMPLES_DIR / file).is_file()]
        gr.Examples(
            examples=[[str(file)] for file, _ in examples],
            inputs=[upload],
            example_labels=[label for _, label in examples],
        )
        gr.Markdown(ATTRIBUTION)
        upload.change(
            partial(_on_upload, pipeline), inputs=upload, outputs=[image, plot, text, download, person, state]
        )
        person.input(_on_person, inputs=[person, state], outputs=[image, plot, text])
    return demo


def launch(demo: gr.Blocks, **kwargs: Any) -> Any:
    """Serve the demo (``kwargs`` go to ``Blocks.launch``, e.g. ``server_port``), with the upload size limit,
    the examples folder allowed and system fonts."""
    return demo.launch(max_file_size=f"{MAX_UPLOAD_MB}mb", allowed_paths=[str(EXAMPLES_DIR)], theme=THEME, **kwargs)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    try:
        pipeline = ElePosePipeline.from_pretrained(os.environ.get("ELEPOSE_MODEL") or None)
    except ValueError as err:
        raise SystemExit(
            f"cannot start the demo ({err}); set ELEPOSE_MODEL to a model directory or Hub repo id"
        ) from err
    pipeline.plausibility(np.zeros(1))  # compute the reference NLLs now rather than on the first upload
    launch(build_demo(pipeline))


if __name__ == "__main__":
    main()
