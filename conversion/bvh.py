"""BVH motion capture: a reader, vectorized forward kinematics and joint maps of known rigs to the 17 joints.

Conventions (those of the BVH format as written by MotionBuilder-style exporters, which both shipped rigs follow):

- A joint's local rotation is the product of its rotation channels in the order they are listed
  (``CHANNELS 6 ... Zrotation Xrotation Yrotation`` gives ``Rz @ Rx @ Ry``), angles in degrees, and maps the
  joint's frame to its parent's: ``x_parent = R_local @ x_joint + translation``.
- A joint's translation in its parent's frame is its ``OFFSET``, unless it has position channels: those then
  give the translation itself (they replace the OFFSET). The Bandai Namco files need this: every joint carries
  6 channels, the non-root ones repeating their OFFSET, and ``Hips`` holds its absolute height (~91 cm, next to
  an OFFSET of 94 cm that adding would double).
- ``End Site`` blocks become joints named ``<parent>_End`` without channels.

``forward_kinematics`` walks the joints once in file order (parents come first) and handles all frames of a
joint at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elepose_hf.skeleton import JOINT_NAMES

_UNIT_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
_AXES = {"X": 0, "Y": 1, "Z": 2}


@dataclass(frozen=True)
class BVHMotion:
    """A parsed BVH file. ``J`` joints (End Sites included), ``F`` frames, ``C`` channels in all."""

    names: tuple[str, ...]  # (J,)
    parents: np.ndarray  # (J,) int, -1 for a root
    offsets: np.ndarray  # (J, 3) OFFSET, file units
    channels: tuple[tuple[str, ...], ...]  # (J,) channel names of each joint, e.g. ("Xposition", ..., "Yrotation")
    channel_start: np.ndarray  # (J,) int, column of each joint's first channel in ``motion``
    motion: np.ndarray  # (F, C) float64
    frame_time: float  # seconds

    @property
    def num_frames(self) -> int:
        return len(self.motion)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"BVH has no joint {name!r}; joints: {list(self.names)}") from None


# ----------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------

_CHANNEL = re.compile(r"^([XYZ])(position|rotation)$")


def _hierarchy_line(words: list[str], state: dict) -> None:
    """Applies one HIERARCHY line to ``state`` (names, parents, offsets, channels, stack, pending)."""
    names, channels, stack = state["names"], state["channels"], state["stack"]
    key = words[0]
    if key in ("ROOT", "JOINT", "End"):
        if (key == "ROOT") == bool(stack):
            raise ValueError("ROOT inside a joint" if stack else f"{key} outside a ROOT")
        if key != "End" and len(words) < 2:
            raise ValueError(f"{key} without a name")
        names.append(f"{names[stack[-1]]}_End" if key == "End" else " ".join(words[1:]))
        state["parents"].append(stack[-1] if stack else -1)
        state["offsets"].append([0.0, 0.0, 0.0])
        channels.append(() if key == "End" else None)  # None: CHANNELS still expected
        state["pending"] = len(names) - 1
    elif key == "{":
        if state["pending"] is None:
            raise ValueError("'{' without a joint")
        stack.append(state["pending"])
        state["pending"] = None
    elif key == "}":
        if not stack:
            raise ValueError("unbalanced '}'")
        if channels[stack[-1]] is None:
            raise ValueError(f"joint {names[stack[-1]]!r} has no CHANNELS")
        stack.pop()
    elif key == "OFFSET":
        if not stack or len(words) != 4:
            raise ValueError("OFFSET must be inside a joint and have 3 numbers")
        state["offsets"][stack[-1]] = [float(w) for w in words[1:]]
    elif key == "CHANNELS":
        if not stack or len(words) < 2 or len(words) != 2 + int(words[1]):
            raise ValueError("CHANNELS must be inside a joint and list as many names as its count")
        if not all(_CHANNEL.match(c) for c in words[2:]):
            raise ValueError(f"channel names must be among Xposition..Zrotation, got {words[2:]}")
        channels[stack[-1]] = tuple(words[2:])
    else:
        raise ValueError(f"unexpected {key!r} in HIERARCHY")


def parse_bvh(text: str, source: str = "<string>") -> BVHMotion:
    """Parses BVH text (HIERARCHY with any number of ROOTs, then MOTION); ``ValueError`` names what is wrong."""
    numbered = ((n, line.split()) for n, line in enumerate(text.splitlines(), start=1))
    numbered = ((n, words) for n, words in numbered if words)
    if next(numbered, (0, [""]))[1][0] != "HIERARCHY":
        raise ValueError(f"{source}: not a BVH file (it must start with 'HIERARCHY')")
    state: dict = {"names": [], "parents": [], "offsets": [], "channels": [], "stack": [], "pending": None}
    for line_no, words in numbered:
        if words[0] == "MOTION":
            break
        try:
            _hierarchy_line(words, state)
        except ValueError as err:
            raise ValueError(f"{source}: line {line_no}: {err}") from None
    else:
        raise ValueError(f"{source}: no MOTION section")
    if state["stack"] or state["pending"] is not None or not state["names"]:
        raise ValueError(f"{source}: HIERARCHY is empty or not closed before MOTION")

    header = {}
    for line_no, words in numbered:
        key, _, value = " ".join(words).partition(":")
        if key not in ("Frames", "Frame Time"):
            raise ValueError(f"{source}: line {line_no}: expected 'Frames:' and 'Frame Time:' after MOTION")
        header[key] = value
        if len(header) == 2:
            break
    rows = [words for _, words in numbered]
    try:
        num_frames, frame_time = int(header["Frames"]), float(header["Frame Time"])
        motion = np.array([value for words in rows for value in words], dtype=np.float64)
    except (KeyError, ValueError) as err:
        raise ValueError(f"{source}: MOTION needs 'Frames:', 'Frame Time:' and numeric rows ({err})") from None
    counts = np.array([len(c) for c in state["channels"]])
    num_channels = int(counts.sum())
    if len(rows) != num_frames or motion.size != num_frames * num_channels:
        raise ValueError(
            f"{source}: 'Frames: {num_frames}' with {num_channels} channels, but {len(rows)} motion rows holding "
            f"{motion.size} values"
        )
    return BVHMotion(
        names=tuple(state["names"]),
        parents=np.array(state["parents"]),
        offsets=np.array(state["offsets"], dtype=np.float64),
        channels=tuple(state["channels"]),
        channel_start=np.concatenate([[0], np.cumsum(counts)[:-1]]),
        motion=motion.reshape(num_frames, num_channels),
        frame_time=frame_time,
    )


def read_bvh(path) -> BVHMotion:
    """Reads a ``.bvh`` file (see ``parse_bvh``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file (expected a .bvh)")
    return parse_bvh(path.read_text(), source=str(path))


# ----------------------------------------------------------------------------------------------------------
# Forward kinematics
# ----------------------------------------------------------------------------------------------------------


def axis_rotation(axis: str, angle_deg: np.ndarray) -> np.ndarray:
    """Rotation matrices (F, 3, 3) about ``axis`` ("X", "Y" or "Z") by ``angle_deg`` (F,) degrees."""
    angle = np.radians(angle_deg)
    c, s = np.cos(angle), np.sin(angle)
    i, j = [k for k in range(3) if k != _AXES[axis]]  # the rotated plane, in right-handed order
    if axis == "Y":
        i, j = j, i  # Y rotates z towards x
    out = np.zeros((len(angle), 3, 3))
    out[:, _AXES[axis], _AXES[axis]] = 1.0
    out[:, i, i] = c
    out[:, j, j] = c
    out[:, i, j] = -s
    out[:, j, i] = s
    return out


def forward_kinematics(bvh: BVHMotion) -> tuple[np.ndarray, np.ndarray]:
    """World positions (F, J, 3) and orientations (F, J, 3, 3) (joint frame -> world) of every joint, End Sites
    included, in the file's units and axes."""
    num_frames, num_joints = bvh.num_frames, len(bvh.names)
    positions = np.zeros((num_frames, num_joints, 3))
    rotations = np.zeros((num_frames, num_joints, 3, 3))
    for j in range(num_joints):
        local_rotation = np.broadcast_to(np.eye(3), (num_frames, 3, 3))
        translation = np.broadcast_to(bvh.offsets[j], (num_frames, 3)).copy()  # (F, 3)
        for k, channel in enumerate(bvh.channels[j]):
            values = bvh.motion[:, bvh.channel_start[j] + k]  # (F,)
            axis, kind = channel[0], channel[1:]
            if kind == "position":
                translation[:, _AXES[axis]] = values
            else:
                local_rotation = local_rotation @ axis_rotation(axis, values)
        parent = bvh.parents[j]
        if parent < 0:
            rotations[:, j], positions[:, j] = local_rotation, translation
        else:
            rotations[:, j] = rotations[:, parent] @ local_rotation
            positions[:, j] = positions[:, parent] + np.einsum("fij,fj->fi", rotations[:, parent], translation)
    return positions, rotations


# ----------------------------------------------------------------------------------------------------------
# Joint maps: BVH rigs -> the 17 joints
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """A target joint: the mean of ``joints``, plus ``offset`` (file units) in the frame of the first of them."""

    joints: tuple[str, ...]
    offset: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Rig:
    """How a rig's joints give the 17 joints (``points`` keyed by ``JOINT_NAMES``), its units and up axis after
    forward kinematics."""

    points: dict[str, Point]
    units: str = "cm"
    up_axis: str = "y"


def _limbs(hip: str, knee: str, ankle: str, shoulder: str, elbow: str, wrist: str) -> dict[str, Point]:
    """The 12 limb joints from name templates with ``{side}`` (each filled with the rig's right / left tag)."""
    names = {"hip": hip, "knee": knee, "ankle": ankle, "shoulder": shoulder, "elbow": elbow, "wrist": wrist}
    return {
        f"{side}{part}": Point((names[part].format(side=tag),))
        for side, tag in (("r", "R"), ("l", "L"))
        for part in names
    }


# Bandai Namco Research Motion Dataset rig (cm, Y up). Its joint frames have x along the bone; the Head's y axis
# points forward. It has no nose or head-top joint: both are points fixed to the Head bone, placed so that the
# thorax -> neck_nose -> head distances (11.4 and 10.5 cm) match those of ElePose-Bench's Bandai poses (11.5, 10.4).
BANDAI = Rig(
    {
        "hip": Point(("UpperLeg_L", "UpperLeg_R")),  # the hip-joint centre (Hips sits 2 cm above it)
        "spine": Point(("Chest",)),
        "thorax": Point(("Neck",)),  # the base of the neck, between the shoulders
        "neck_nose": Point(("Head",), (4.1, 4.8, 0.0)),  # 4 cm above and 5 cm in front of the Head joint
        "head": Point(("Head",), (13.4, 0.0, 0.0)),  # the top of the head, 13 cm above the Head joint
        **_limbs(
            "UpperLeg_{side}", "LowerLeg_{side}", "Foot_{side}", "UpperArm_{side}", "LowerArm_{side}", "Hand_{side}"
        ),
    }
)

# Reallusion iClone / Character Creator rig ("CC_Base_*", cm). Its rest offsets are Z up, but the root's rotation
# channels (X about -90 deg) turn the skeleton upright: after forward kinematics the world is Y up. Head frame: y up,
# z forward. neck_nose (between the eyes and the upper jaw) and head (top) are points fixed to the Head bone; the
# same points (save a 2 cm sideways shift) as in the shipped CMU mocap (elepose_hf/resources/cmu_h36m17.npz),
# whose other joints this map reproduces exactly.
CMU_ICLONE = Rig(
    {
        "hip": Point(("CC_Base_L_Thigh", "CC_Base_R_Thigh")),
        "spine": Point(("CC_Base_Spine02",)),
        "thorax": Point(("CC_Base_NeckTwist01",)),
        "neck_nose": Point(("CC_Base_Head",), (0.0, 4.43, 6.74)),
        "head": Point(("CC_Base_Head",), (0.0, 17.4, 2.44)),
        **_limbs(
            "CC_Base_{side}_Thigh",
            "CC_Base_{side}_Calf",
            "CC_Base_{side}_Foot",
            "CC_Base_{side}_Upperarm",
            "CC_Base_{side}_Forearm",
            "CC_Base_{side}_Hand",
        ),
    }
)

RIGS: dict[str, Rig] = {"bandai": BANDAI, "cmu_iclone": CMU_ICLONE}


def _required_joints(rig: Rig) -> set[str]:
    return {name for point in rig.points.values() for name in point.joints}


def detect_rig(bvh: BVHMotion) -> str:
    """The name of the first rig in ``RIGS`` whose joints the file has; ``ValueError`` if none fits."""
    for name, rig in RIGS.items():
        if _required_joints(rig) <= set(bvh.names):
            return name
    missing = {name: sorted(_required_joints(rig) - set(bvh.names))[:5] for name, rig in RIGS.items()}
    raise ValueError(f"BVH matches no known rig; missing joints per rig (first 5): {missing}")


def to_h36m17(bvh: BVHMotion, rig: str = "auto", up_axis: str | None = None) -> np.ndarray:
    """The 17 joints (F, 17, 3) in mm with y up (this library's mocap convention) from a BVH of a known rig.

    ``rig``: a ``RIGS`` name or "auto" (``detect_rig``). ``up_axis``: the file's up axis after forward
    kinematics, "y" or "z" (default: the rig's); a Z-up world (x, y, z) becomes (x, z, -y), as in
    ``elepose_hf.data``.
    """
    name = detect_rig(bvh) if rig == "auto" else rig
    if name not in RIGS:
        raise ValueError(f"unknown rig {rig!r}; known: {['auto', *RIGS]}")
    spec = RIGS[name]
    missing = sorted(_required_joints(spec) - set(bvh.names))
    if missing:
        raise ValueError(f"BVH lacks joints {missing} of rig {rig!r}")
    up_axis = up_axis or spec.up_axis
    if up_axis not in ("y", "z"):
        raise ValueError(f"up_axis must be 'y' or 'z', got {up_axis!r}")
    positions, rotations = forward_kinematics(bvh)  # (F, J, 3), (F, J, 3, 3)
    out = np.empty((bvh.num_frames, len(JOINT_NAMES), 3))
    for target, joint_name in enumerate(JOINT_NAMES):
        point = spec.points[joint_name]
        indices = [bvh.index(joint) for joint in point.joints]
        out[:, target] = positions[:, indices].mean(axis=1)
        if point.offset is not None:
            out[:, target] += rotations[:, indices[0]] @ np.asarray(point.offset)
    if up_axis == "z":
        out = np.stack([out[..., 0], out[..., 2], -out[..., 1]], axis=-1)
    return out * _UNIT_TO_MM[spec.units]
