"""``ElePosePipeline``: 2D keypoints in any supported format -> 3D pose, camera elevation and pose likelihood.

What happens to a batch of poses (all steps vectorized over poses):

1. **Joints.** The input is mapped to the 17 Human3.6M joints (``skeleton.to_h36m17``). A joint is *missing* when
   its confidence is 0 or NaN or a coordinate is not finite (or the adapter has no source for it). Poses with
   fewer than ``MIN_OBSERVED_JOINTS`` observed joints are refused (``ValueError`` naming the rows), or dropped
   with ``skip_incomplete=True`` (``LiftResult.index`` then says which input row each result belongs to).
2. **Camera coordinates.** With ``intrinsics [fx, fy, cx, cy]`` pixels become ``((u - cx) / fx, (v - cy) / fy)``.
   Because step 3 removes each pose's position and size, this only changes results through the aspect ratio
   ``fx / fy``; the principal point has no effect (the lifter sees root-centred poses).
3. **Per-pose normalization.** Image scale varies from photo to photo, so each pose is scaled by its own size
   (not by the training set's constant): the observed joints are centred on their centroid and scaled so that
   their mean squared distance from it equals the value *expected* for the same joints under the flow's PCA
   model of normalized poses (a Gaussian with the PCA mean and covariance; closed form, see
   ``_expected_spread``). Using every observed joint and the model's second moment (not the mean pose, which
   is smaller than a typical pose) makes the scale robust to missing joints, a missing root and bent poses.
4. **Completion of missing joints.** Missing coordinates are read from the MAP fit of the flow's PCA model to
   the observed ones: ``x = mean + basis c + t`` with whitened coefficients ``c ~ N(0, I)``, a free 2D
   translation ``t`` and observation noise ``COMPLETION_NOISE`` (normalized units; the root-to-head distance
   of a normalized pose is about 0.1). Observed joints keep their values. The pose is then root-centred (a
   missing root comes from the completion). ``LiftResult.missing_joints`` flags every completed joint, and
   ``LiftResult.keypoints_2d`` holds the completed pose in input pixels. (On ElePose-Bench CMU poses the
   completed joints are off by about 15% of the root-to-head distance with 4 random joints missing, 28% for
   both lower legs, 29% for the whole lower body; ``COMPLETION_NOISE`` was chosen there.)
5. **Lifting** with ``ElePoseLifter``: a 3D pose in normalized units and the camera elevation.
6. **Likelihood** (paper, Sec. 4.3): for ``num_projections`` random virtual cameras per pose the predicted
   elevation is undone, the pose turned by an azimuth ``U(-pi, pi)``, seen from an elevation drawn from the
   learned ``N(elevation_mean, elevation_std)``, projected at depth ``depth_offset`` and scored by the flow;
   ``nll`` is the mean negative log-likelihood (seeded; independent of ``batch_size``).
7. **Plausibility** = the fraction of 2D poses sampled from the flow prior itself whose NLL is higher than the
   pose's ``nll`` (``REFERENCE_SAMPLES`` fixed-seed samples, linearly interpolated): about 0.5 for a pose as
   likely as a typical prior sample, towards 0 for implausible poses; monotone decreasing in ``nll``.
   Completed joints come from the PCA model, so they make a pose look more plausible than its observed part.
8. **Metric scale.** ``body_height_m`` is taken to be the length of the chain ankle-knee-hip-pelvis-spine-
   thorax-neck-head along the bones (legs averaged; see [`body_height`]), which does not depend on the pose:
   standing, that chain spans 0.965 of its length from ankle to head joint (measured on the shipped CMU mocap)
   and the ankle's height above the floor (about 4% of stature) makes up the rest. Formats whose head is the
   eye/ear centre (COCO, MediaPipe, OpenPose) give a slightly shorter chain, so their poses come out slightly
   larger. ``keypoints_3d_upright`` is the metric pose levelled by ``rotation_x(-elevation)``: y is the gravity
   axis (down), so a level ground plane is ``y = const``, without calibration.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .geometry import project_at_depth, rotate, rotation_x, virtual_camera_rotation
from .keypoint_io import KeypointSet, read_keypoints
from .model_dir import FLOW_SUBFOLDER
from .modeling_elepose import ElePoseLifter, PoseFlowPrior
from .skeleton import JOINT_NAMES, NUM_JOINTS, ROOT_JOINT, detect_format, to_h36m17

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "pretrained" / "elepose-bench"
MIN_OBSERVED_JOINTS = 8
COMPLETION_NOISE = 0.003
REFERENCE_SAMPLES = 20_000
PROJECTIONS_PER_FLOW_PASS = 32_768

# Bones of the height chain: both legs (ankle-knee, knee-hip; averaged) and the trunk (pelvis-spine-thorax-neck-head).
_LEG_BONES = ((3, 2), (2, 1), (6, 5), (5, 4))
_TRUNK_BONES = ((0, 7), (7, 8), (8, 9), (9, 10))


def body_height(keypoints_3d: torch.Tensor) -> torch.Tensor:
    """Pose-independent body height ``(B,)`` of poses ``(B, 17, 3)``: the length of the ankle-to-head chain
    along the bones, legs averaged (see the module docstring, step 8)."""

    def length(bones: tuple[tuple[int, int], ...]) -> torch.Tensor:
        index = torch.tensor(bones, device=keypoints_3d.device)
        segments = keypoints_3d[:, index[:, 0]] - keypoints_3d[:, index[:, 1]]  # (B, bones, 3)
        return torch.linalg.vector_norm(segments, dim=-1).sum(dim=1)

    return 0.5 * length(_LEG_BONES) + length(_TRUNK_BONES)


@dataclass
class LiftResult:
    """Lifted poses; every array has ``N`` rows, joints in the Human3.6M order of ``skeleton.JOINT_NAMES``.

    Args:
        keypoints_3d: ``(N, 17, 3)`` camera frame (x right, y down, z forward), root-relative, the lifter's
            normalized units.
        keypoints_3d_metric: ``(N, 17, 3)`` the same in metres, for the assumed body height.
        keypoints_3d_upright: ``(N, 17, 3)`` metres, levelled by the predicted elevation: y is gravity (down).
        camera_elevation_deg: ``(N,)`` predicted camera elevation, positive when the camera looks down.
        nll: ``(N,)`` mean negative log-likelihood over random virtual projections (NaN if not computed).
        plausibility: ``(N,)`` in [0, 1], monotone decreasing in ``nll`` (NaN if not computed).
        missing_joints: ``(N, 17)`` bool, joints that were missing in the input and were completed.
        keypoints_2d: ``(N, 17, 2)`` the input in pixels (H36M order), missing joints completed.
        index: ``(N,)`` the input row of each pose.
        names: ``N`` labels (frame / person / image) when the input had them.
    """

    keypoints_3d: np.ndarray
    keypoints_3d_metric: np.ndarray
    keypoints_3d_upright: np.ndarray
    camera_elevation_deg: np.ndarray
    nll: np.ndarray
    plausibility: np.ndarray
    missing_joints: np.ndarray
    keypoints_2d: np.ndarray
    index: np.ndarray
    names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.keypoints_3d)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field as a numpy array (``names`` as strings when present), plus ``joint_names``."""
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "names"}
        if self.names is not None:
            arrays["names"] = np.asarray(self.names, dtype=str)
        return arrays | {"joint_names": np.asarray(JOINT_NAMES)}

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-serializable dict per pose; floats rounded to 6 decimals, NaN written as ``None``."""
        columns: dict[str, list] = {}
        for name, values in self.to_arrays().items():
            if name == "joint_names":
                continue
            if values.dtype.kind == "f":
                rounded = np.round(values.astype(np.float64), 6).astype(object)
                rounded[np.isnan(values)] = None
                values = rounded
            columns["name" if name == "names" else name] = values.tolist()
        return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _numpy(values: Any) -> np.ndarray:
    """float32 numpy view of an array-like or (any-device) tensor."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float32)


def _is_pose_dicts(keypoints: Any) -> bool:
    """True for VitPose-style results: a list of person dicts, or a list (per image) of such lists."""
    if not isinstance(keypoints, list | tuple) or not keypoints:
        return False
    first = keypoints[0]
    return isinstance(first, dict) or (isinstance(first, list | tuple) and all(isinstance(p, dict) for p in first))


def _from_pose_dicts(results: list) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(N, 17, 2)`` keypoints, ``(N, 17)`` scores and names of VitPose ``post_process_pose_estimation`` output."""
    nested = not isinstance(results[0], dict)
    images = results if nested else [results]
    people = [(i, j, person) for i, image in enumerate(images) for j, person in enumerate(image)]
    if not people:
        raise ValueError("the pose results hold no person")
    if not all("keypoints" in person for _, _, person in people):
        raise ValueError("every pose result needs a 'keypoints' entry (VitPose format)")
    keypoints = np.stack([_numpy(person["keypoints"]) for _, _, person in people])  # (N, 17, 2)
    scores = [person.get("scores") for _, _, person in people]
    scores = np.stack([np.ones(keypoints.shape[1]) if s is None else _numpy(s) for s in scores])  # (N, 17)
    names = [f"image{i}/person{j}" if nested else f"person{j}" for i, j, _ in people]
    return keypoints, scores.astype(np.float32), names


def _intrinsics(intrinsics: Any, num_poses: int) -> np.ndarray:
    """``[fx, fy, cx, cy]`` as ``(1, 4)`` or ``(num_poses, 4)``, checked."""
    values = _numpy(intrinsics)
    values = values[None] if values.shape == (4,) else values
    if values.shape not in ((1, 4), (num_poses, 4)):
        raise ValueError(f"intrinsics must be [fx, fy, cx, cy] or ({num_poses}, 4), got shape {np.shape(intrinsics)}")
    if not (values[:, :2] > 0).all():
        raise ValueError("intrinsics: the focal lengths fx, fy must be positive")
    return values


class ElePosePipeline:
    """Lift 2D human poses to 3D with a trained ElePose model (lifter + flow prior); see the module docstring.

    ``pipeline = ElePosePipeline.from_pretrained()``; ``result = pipeline(keypoints)`` -> [`LiftResult`].
    """

    def __init__(self, lifter: ElePoseLifter, flow: PoseFlowPrior, device: str | torch.device | None = None):
        if flow.config.num_pca_components is None:
            raise ValueError(
                "the pipeline needs a flow with a PCA (num_pca_components) to normalize and complete poses"
            )
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.lifter = lifter.to(self.device).eval()
        self.flow = flow.to(self.device).eval()
        mean = flow.pca_mean.double().cpu()  # (34,)
        basis = (flow.pca_components.T * flow.pca_std).double().cpu()  # (34, k): whitened coefficients -> pose
        # Second-moment matrix (17, 17) of a normalized pose, summed over x and y: E[x_i . x_j].
        covariance = basis @ basis.T  # (34, 34)
        moment = covariance.view(NUM_JOINTS, 2, NUM_JOINTS, 2).diagonal(dim1=1, dim2=3).sum(-1)
        self._second_moment = (moment + mean.view(NUM_JOINTS, 2) @ mean.view(NUM_JOINTS, 2).T).numpy()
        translation = torch.eye(2, dtype=torch.float64).repeat(NUM_JOINTS, 1)  # (34, 2)
        self._design = torch.cat([basis, translation], dim=1).to(self.device)  # (34, k + 2)
        ridge = torch.cat([torch.full((basis.shape[1],), COMPLETION_NOISE**2), torch.zeros(2)]).double()
        self._ridge = torch.diag(ridge).to(self.device)  # (k + 2, k + 2)
        self._mean = mean.to(self.device)
        self._reference_nll: np.ndarray | None = None

    @classmethod
    def from_pretrained(
        cls, path_or_repo_id: str | Path | None = None, device: str | torch.device | None = None, **hub_kwargs: Any
    ) -> ElePosePipeline:
        """Load a model directory or Hub repository: the lifter (``config.json``, ``model.safetensors``) at its
        root and the flow prior in ``flow/`` (as ``model_dir.save_model_dir`` writes it).

        ``None`` loads the bundled model (``DEFAULT_MODEL_DIR``). ``hub_kwargs`` go to ``from_pretrained``
        (``revision``, ``cache_dir``, ``token``, ``local_files_only``, ``subfolder`` for a model inside a repo
        folder, ...); with ``HF_HUB_OFFLINE=1`` a downloaded repository loads from the cache.
        """
        if path_or_repo_id is None:
            if not DEFAULT_MODEL_DIR.is_dir():
                raise ValueError(
                    f"the bundled model is not installed at {DEFAULT_MODEL_DIR}; pass a model directory or a "
                    "Hugging Face Hub repo id (e.g. --model)"
                )
            path_or_repo_id = DEFAULT_MODEL_DIR
        subfolder = hub_kwargs.pop("subfolder", "")
        flow_subfolder = f"{subfolder}/{FLOW_SUBFOLDER}" if subfolder else FLOW_SUBFOLDER
        try:
            lifter = ElePoseLifter.from_pretrained(path_or_repo_id, subfolder=subfolder, **hub_kwargs)
            flow = PoseFlowPrior.from_pretrained(path_or_repo_id, subfolder=flow_subfolder, **hub_kwargs)
        except OSError as err:
            raise ValueError(
                f"cannot load an ElePose model from {str(path_or_repo_id)!r} (expected the lifter at its root and "
                f"the flow in {FLOW_SUBFOLDER}/): {err}"
            ) from err
        return cls(lifter, flow, device)

    def plausibility(self, nll: np.ndarray) -> np.ndarray:
        """Fraction of flow-prior samples with a higher NLL than ``nll`` ``(N,)``: in (0, 1), decreasing."""
        if self._reference_nll is None:
            with torch.inference_mode():
                generator = torch.Generator().manual_seed(0)
                latent = torch.randn(REFERENCE_SAMPLES, self.flow.config.latent_size, generator=generator)
                chunks = latent.to(self.device).split(PROJECTIONS_PER_FLOW_PASS)
                samples = [self.flow.from_latent(self.flow.inverse(chunk)) for chunk in chunks]
                reference = torch.cat([-self.flow.log_prob(sample) for sample in samples])
            self._reference_nll = np.sort(reference.double().cpu().numpy())
        fraction_higher = 1.0 - (np.arange(REFERENCE_SAMPLES) + 0.5) / REFERENCE_SAMPLES
        return np.interp(nll, self._reference_nll, fraction_higher).astype(np.float32)

    def _expected_spread(self, observed: np.ndarray) -> np.ndarray:
        """Expected sum of squared distances of the observed joints ``(N, 17)`` bool from their centroid
        under the PCA model: ``w . diag(G) - w^T G w / n`` with ``G`` the second-moment matrix."""
        weight = observed.astype(np.float64)
        quadratic = np.einsum("ni,ij,nj->n", weight, self._second_moment, weight)
        return weight @ np.diag(self._second_moment) - quadratic / weight.sum(1)

    def _complete(self, poses: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """Fill missing joints of centred, scaled poses ``(B, 17, 2)`` (any value there) with the MAP PCA fit."""
        rows = torch.nonzero(~observed.all(dim=1)).flatten()
        if len(rows) == 0:
            return poses
        weight = observed[rows].repeat_interleave(2, dim=1).double()  # (R, 34)
        residual = weight * (poses[rows].flatten(1).double() - self._mean)  # (R, 34)
        normal = torch.einsum("ki,rk,kj->rij", self._design, weight, self._design) + self._ridge  # (R, k+2, k+2)
        theta = torch.linalg.solve(normal, residual @ self._design)  # (R, k + 2)
        fitted = (theta @ self._design.T + self._mean).view(-1, NUM_JOINTS, 2).to(poses.dtype)
        poses = poses.clone()
        poses[rows] = torch.where(observed[rows, :, None], poses[rows], fitted)
        return poses

    def _virtual_elevations(
        self, elevation: torch.Tensor, rngs: tuple[np.random.Generator, np.random.Generator], count: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Undone elevation ``(B, P)``, azimuth ``(B, P)`` and new elevation ``(B, P)`` as in training."""
        config = self.lifter.config
        shape = (len(elevation), count)
        azimuth = rngs[0].uniform(-math.pi, math.pi, shape)
        if config.use_elevation:
            if config.elevation_mean is None or config.elevation_std is None:
                raise ValueError("the lifter's config has no learned elevation_mean / elevation_std: train it first")
            new_elevation = config.elevation_mean + config.elevation_std * rngs[1].standard_normal(shape)
            undone = elevation[:, None].expand(shape)
        else:
            range_ = config.fixed_elevation_range
            new_elevation = rngs[1].uniform(-range_, range_, shape)
            undone = elevation.new_zeros(shape)

        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(values).to(elevation)

        return undone, tensor(azimuth), tensor(new_elevation)

    def _nll(
        self,
        keypoints_3d: torch.Tensor,
        elevation: torch.Tensor,
        rngs: tuple[np.random.Generator, np.random.Generator],
        num_projections: int,
    ) -> torch.Tensor:
        """Mean NLL ``(B,)`` of poses ``(B, 17, 3)`` over ``num_projections`` random virtual views each."""
        undone, azimuth, new_elevation = self._virtual_elevations(elevation, rngs, num_projections)
        rotation = virtual_camera_rotation(undone, azimuth, new_elevation)  # (B, P, 3, 3)
        step = max(1, PROJECTIONS_PER_FLOW_PASS // num_projections)
        nll = []
        for start in range(0, len(keypoints_3d), step):
            rotated = rotate(keypoints_3d[start : start + step, None], rotation[start : start + step])  # (b, P, 17, 3)
            projected = project_at_depth(rotated, self.lifter.config.depth_offset)  # (b, P, 17, 2)
            log_prob = self.flow.log_prob(projected.flatten(0, 1)).view(-1, num_projections)
            nll.append(-log_prob.mean(dim=1))
        return torch.cat(nll)

    @staticmethod
    def _inputs(
        keypoints: Any, confidence: Any, keypoint_format: str | None, intrinsics: Any
    ) -> tuple[np.ndarray, np.ndarray | None, str, Any, list[str] | None]:
        """``(N, J, 2)`` keypoints, ``(N, J)`` confidence or None, format, intrinsics and names of any input."""
        if isinstance(keypoints, str | Path):
            keypoints = read_keypoints(keypoints, keypoint_format)
        if isinstance(keypoints, KeypointSet):
            intrinsics = keypoints.intrinsics if intrinsics is None else intrinsics
            confidence = keypoints.confidence if confidence is None else confidence
            return (
                keypoints.keypoints,
                confidence,
                keypoint_format or keypoints.keypoint_format,
                intrinsics,
                keypoints.names,
            )
        if _is_pose_dicts(keypoints):
            points, scores, names = _from_pose_dicts(keypoints)
            return points, scores if confidence is None else confidence, keypoint_format or "coco17", intrinsics, names
        points = _numpy(keypoints)
        if points.ndim == 2:  # one pose (J, C)
            points = points[None]
            confidence = None if confidence is None else _numpy(confidence)[None]
        if points.ndim != 3 or points.shape[-1] not in (2, 3):
            raise ValueError(
                f"keypoints must have shape (N, J, 2), (J, 2) or (N, J, 3) with confidence, got {points.shape}"
            )
        if points.shape[-1] == 3:
            points, confidence = points[..., :2], points[..., 2] if confidence is None else confidence
        return points, confidence, keypoint_format or detect_format(points.shape[1]), intrinsics, None

    @torch.inference_mode()
    def __call__(
        self,
        keypoints: Any,
        confidence: Any = None,
        keypoint_format: str | None = None,
        intrinsics: Any = None,
        body_height_m: float = 1.75,
        num_projections: int = 100,
        seed: int = 0,
        batch_size: int = 8192,
        skip_incomplete: bool = False,
    ) -> LiftResult:
        """Lift 2D poses to 3D.

        Args:
            keypoints: ``(N, J, 2)`` or ``(J, 2)`` pixels (``(..., 3)``: x, y, confidence), a [`KeypointSet`],
                a file path (see ``keypoint_io.read_keypoints``), or VitPose-style results (a list of dicts
                with ``keypoints (17, 2)`` and ``scores (17,)``, COCO-17; or one such list per image).
            confidence: ``(N, J)`` or ``(J,)``; 0 or NaN marks a missing joint. Default: all observed.
            keypoint_format: one of ``skeleton.KEYPOINT_FORMATS``; default from the input, else from ``J``
                (17 joints read as ``"h36m17"``: pass ``"coco17"`` for COCO arrays).
            intrinsics: ``[fx, fy, cx, cy]`` or ``(N, 4)`` pixels (see the module docstring, step 2).
            body_height_m: assumed body height for the metric outputs (step 8).
            num_projections: random virtual views per pose for ``nll``; 0 skips ``nll`` and ``plausibility``
                (NaN), which is much faster.
            seed: seed of the virtual views.
            batch_size: poses per lifter pass.
            skip_incomplete: drop poses with fewer than ``MIN_OBSERVED_JOINTS`` observed joints instead of
                raising (``LiftResult.index`` maps results to input rows).
        """
        points, confidence, keypoint_format, intrinsics, names = self._inputs(
            keypoints, confidence, keypoint_format, intrinsics
        )
        confidence = None if confidence is None else _numpy(confidence)
        points, confidence = to_h36m17(points, confidence, keypoint_format)  # (N, 17, 2), (N, 17); NaN if missing
        observed = confidence > 0  # (N, 17)
        keep = self._check_observed(observed, names, skip_incomplete)
        lens = None if intrinsics is None else np.broadcast_to(_intrinsics(intrinsics, len(points)), (len(points), 4))
        points, observed = points[keep], observed[keep]
        lens = None if lens is None else lens[keep]  # (N, 4)
        camera = points if lens is None else (points - lens[:, None, 2:]) / lens[:, None, :2]  # (N, 17, 2)

        poses, centroid, scale = self._normalize(camera, observed, keep)
        keypoints_3d, elevation, completed, nll = self._lift(poses, observed, num_projections, seed, batch_size)
        plausibility = self.plausibility(nll) if num_projections > 0 else nll.copy()

        pose_3d = torch.from_numpy(keypoints_3d)
        metric = pose_3d * (body_height_m / body_height(pose_3d).clamp(min=1e-12))[:, None, None]
        upright = rotate(metric, rotation_x(-torch.from_numpy(elevation)))
        filled = completed / scale[:, None, None] + centroid[:, None]  # (N, 17, 2) camera coordinates
        filled = filled if lens is None else filled * lens[:, None, :2] + lens[:, None, 2:]
        return LiftResult(
            keypoints_3d=keypoints_3d,
            keypoints_3d_metric=metric.numpy(),
            keypoints_3d_upright=upright.numpy(),
            camera_elevation_deg=np.degrees(elevation).astype(np.float32),
            nll=nll,
            plausibility=plausibility,
            missing_joints=~observed,
            keypoints_2d=np.where(observed[..., None], points, filled).astype(np.float32),
            index=keep,
            names=None if names is None else [names[i] for i in keep],
        )

    def _normalize(
        self, camera: np.ndarray, observed: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centre poses ``(N, 17, 2)`` on their observed joints' centroid and scale them to the flow's normalized
        units (step 3); missing joints become 0. Returns the poses, centroids ``(N, 2)`` and scales ``(N,)``."""
        centred = np.where(observed[..., None], camera, np.nan)
        centroid = np.nanmean(centred, axis=1)  # (N, 2)
        spread = np.nansum(np.square(centred - centroid[:, None]), axis=(1, 2))  # (N,)
        degenerate = ~(spread > 0)
        if degenerate.any():
            raise ValueError(f"pose rows {rows[degenerate][:10].tolist()} have all observed joints at one point")
        scale = np.sqrt(self._expected_spread(observed) / spread)  # (N,)
        poses = np.nan_to_num((centred - centroid[:, None]) * scale[:, None, None]).astype(np.float32)
        return poses, centroid, scale

    def _lift(
        self, poses: np.ndarray, observed: np.ndarray, num_projections: int, seed: int, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Complete, root-centre and lift normalized poses ``(N, 17, 2)`` in batches; score them with the flow.

        Returns ``keypoints_3d (N, 17, 3)``, ``elevation (N,)`` radians, the completed centred poses
        ``(N, 17, 2)`` and ``nll (N,)`` (NaN when ``num_projections`` is 0).
        """
        rngs = tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        outputs: dict[str, list[np.ndarray]] = {"keypoints_3d": [], "elevation": [], "completed": [], "nll": []}
        for start in range(0, len(poses), batch_size):
            chunk = torch.from_numpy(poses[start : start + batch_size]).to(self.device)
            completed = self._complete(chunk, torch.from_numpy(observed[start : start + batch_size]).to(self.device))
            lifted = self.lifter(completed - completed[:, ROOT_JOINT : ROOT_JOINT + 1])
            if num_projections > 0:
                nll = self._nll(lifted.keypoints_3d, lifted.elevation, rngs, num_projections)
            else:
                nll = torch.full((len(chunk),), torch.nan)
            for name, value in zip(outputs, (lifted.keypoints_3d, lifted.elevation, completed, nll), strict=True):
                outputs[name].append(value.float().cpu().numpy())
        keypoints_3d, elevation, completed, nll = (np.concatenate(values) for values in outputs.values())
        return keypoints_3d, elevation, completed, nll

    @staticmethod
    def _check_observed(observed: np.ndarray, names: list[str] | None, skip_incomplete: bool) -> np.ndarray:
        """Rows ``(M,)`` with enough observed joints; raise (or log, with ``skip_incomplete``) about the rest."""
        if len(observed) == 0:
            raise ValueError("no poses to lift")
        too_few = observed.sum(axis=1) < MIN_OBSERVED_JOINTS
        if too_few.any():
            rows = np.flatnonzero(too_few)
            shown = [f"{r} ({names[r]})" if names else str(r) for r in rows[:10]]
            message = (
                f"{len(rows)} pose(s) have fewer than {MIN_OBSERVED_JOINTS} of the 17 joints observed, "
                f"rows {', '.join(shown)}{' ...' if len(rows) > 10 else ''}"
            )
            if not skip_incomplete:
                raise ValueError(message + "; drop them with skip_incomplete=True (CLI: --skip-incomplete)")
            if too_few.all():
                raise ValueError(message + "; no pose is left to lift")
            logger.warning("skipping %s", message)
        return np.flatnonzero(~too_few)
