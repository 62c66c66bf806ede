"""ElePose models: the lifting network and the normalizing-flow prior on 2D poses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_elepose import ElePoseConfig, PoseFlowConfig
from .geometry import normalize_keypoints, root_centre, unproject


def _check_keypoints(keypoints_2d: torch.Tensor, num_joints: int, name: str = "keypoints_2d") -> None:
    """Raise a ``ValueError`` naming ``name`` unless it is a finite ``(B, num_joints, 2)`` tensor.

    Under ``torch.compile`` only the shape is checked (the value check would split the graph); training validates
    its data before the first step.
    """
    if keypoints_2d.ndim != 3 or keypoints_2d.shape[1:] != (num_joints, 2):
        raise ValueError(f"{name} must have shape (batch, {num_joints}, 2), got {tuple(keypoints_2d.shape)}")
    if torch.compiler.is_compiling():
        return
    finite = torch.isfinite(keypoints_2d).all(dim=(1, 2))
    if not finite.all():
        rows = torch.nonzero(~finite).flatten()[:5].tolist()
        raise ValueError(f"{name} has NaN or infinite values in {int((~finite).sum())} pose(s), rows {rows}")


class _PosePreTrainedModel(PreTrainedModel):
    """Shared plumbing: 2D normalization from the config and weight initialization."""

    main_input_name = "keypoints_2d"

    def _init_weights(self, module: nn.Module) -> None:
        """Modules initialize themselves at construction; nothing to add."""

    def normalize(self, keypoints_2d: torch.Tensor) -> torch.Tensor:
        """Root-centre and scale input-unit 2D poses ``(B, J, 2)`` as the model was trained."""
        _check_keypoints(keypoints_2d, self.config.num_joints)
        scale = None if self.config.normalization == "per_pose" else self.config.normalization_scale
        if self.config.normalization == "dataset" and scale is None:
            raise ValueError(
                f"{type(self).__name__} has no normalization_scale in its config: train it, or set "
                "config.normalization_scale (mean root-to-head distance of the training poses in input units)"
            )
        return normalize_keypoints(keypoints_2d, scale, self.config.normalized_head_length)


@dataclass
class ElePoseLifterOutput(ModelOutput):
    """Output of [`ElePoseLifter`].

    Args:
        keypoints_3d (`torch.FloatTensor` of shape `(batch, joints, 3)`): root-centred 3D pose in the camera frame,
            in units where the root sits at depth ``depth_offset``.
        depth (`torch.FloatTensor` of shape `(batch, joints)`): per-joint depth ``w = d + D``.
        elevation (`torch.FloatTensor` of shape `(batch,)`): camera elevation, radians (positive: looking down).
    """

    keypoints_3d: torch.Tensor | None = None
    depth: torch.Tensor | None = None
    elevation: torch.Tensor | None = None


class ResidualBlock(nn.Module):
    """Two linear layers with LeakyReLU, a skip connection and a LeakyReLU after the sum."""

    def __init__(self, width: int, negative_slope: float):
        super().__init__()
        self.l1 = nn.Linear(width, width)
        self.l2 = nn.Linear(width, width)
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.act(hidden + self.act(self.l2(self.act(self.l1(hidden)))))


class ElePoseLifter(_PosePreTrainedModel):
    """Lifts normalized 2D poses to 3D by predicting a depth per joint and the camera elevation.

    A shared trunk (input layer and ``num_shared_blocks`` residual blocks) feeds two branches of identical shape:
    one predicts the depth offsets ``d`` (``w = d + D``), the other the elevation.
    """

    config_class = ElePoseConfig
    base_model_prefix = "lifter"

    def __init__(self, config: ElePoseConfig):
        super().__init__(config)
        width, slope, joints = config.hidden_size, config.negative_slope, config.num_joints
        self.upscale = nn.Linear(2 * joints, width)
        self.input_act = nn.LeakyReLU(slope) if config.input_activation else nn.Identity()
        self.shared = nn.Sequential(*[ResidualBlock(width, slope) for _ in range(config.num_shared_blocks)])
        self.depth_branch = nn.Sequential(*[ResidualBlock(width, slope) for _ in range(config.num_branch_blocks)])
        self.depth_head = nn.Linear(width, joints)
        self.elevation_branch = nn.Sequential(*[ResidualBlock(width, slope) for _ in range(config.num_branch_blocks)])
        self.elevation_head = nn.Linear(width, 1)
        nn.init.constant_(self.elevation_head.bias, config.initial_elevation)
        self.post_init()

    def forward(
        self, keypoints_2d: torch.Tensor, predict_elevation: bool = True, return_dict: bool | None = None
    ) -> ElePoseLifterOutput:
        """Lift normalized 2D poses ``(B, J, 2)`` (see [`normalize`]) to 3D; ``predict_elevation=False`` skips the
        elevation branch (the training cycle does not use it)."""
        _check_keypoints(keypoints_2d, self.config.num_joints)
        trunk = self.shared(self.input_act(self.upscale(keypoints_2d.flatten(1))))  # (B, width)
        offsets = self.depth_head(self.depth_branch(trunk)).float()  # (B, J); float32 under mixed precision
        if self.config.fix_root_depth:
            offsets = nn.functional.pad(offsets[:, 1:], (1, 0))
        depth = offsets + self.config.depth_offset
        if self.training:
            depth = depth.clamp(min=self.config.min_depth)
        elevation = None
        if predict_elevation:
            elevation = self.elevation_head(self.elevation_branch(trunk)).squeeze(-1).float()
        keypoints_3d = root_centre(unproject(keypoints_2d, depth))  # (B, J, 3)
        output = ElePoseLifterOutput(keypoints_3d=keypoints_3d, depth=depth, elevation=elevation)
        return output if return_dict is not False else output.to_tuple()


@dataclass
class PoseFlowOutput(ModelOutput):
    """Output of [`PoseFlowPrior`].

    Args:
        latent (`torch.FloatTensor` of shape `(batch, latent_size)`): the flow's Gaussian latent ``z``.
        log_det (`torch.FloatTensor` of shape `(batch,)`): ``log |det dz/dc|`` for the PCA coefficients ``c``
            (whitening included).
        log_prob (`torch.FloatTensor` of shape `(batch,)`): log-density of the PCA coefficients.
    """

    latent: torch.Tensor | None = None
    log_det: torch.Tensor | None = None
    log_prob: torch.Tensor | None = None


def _random_rotation(size: int, generator: torch.Generator) -> torch.Tensor:
    """A random orthogonal ``(size, size)`` matrix with determinant +1 (Haar-distributed)."""
    q, r = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64, device="cpu"))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.float().contiguous()


class AffineCouplingBlock(nn.Module):
    """Affine coupling with soft-clamped scales, a learned per-channel affine map and a fixed orthogonal mixing.

    The maths of FrEIA's ``AllInOneBlock`` (with ``permute_soft=True``), so that the authors' checkpoint maps
    onto it exactly: ``a = s0 * subnet(x1)``, ``x2' = x2 * exp(clamp(a_s)) + a_t``, then
    ``y = (cat(x1, x2') * scale + offset) @ w_perm^T`` with ``scale = 0.1 * softplus_{beta=0.5}(global_scale)``.
    """

    def __init__(self, config: PoseFlowConfig, size: int, generator: torch.Generator):
        super().__init__()
        self.split = size - size // 2
        self.clamp = config.clamp
        self.clamp_mode = config.clamp_mode
        self.subnet_output_scale = config.subnet_output_scale
        self.subnet = nn.Sequential(
            nn.Linear(self.split, config.hidden_size), nn.ReLU(), nn.Linear(config.hidden_size, 2 * (size // 2))
        )
        scale_init = 2.0 * math.log(math.exp(0.5 * 10.0 * config.global_affine_init) - 1.0)
        self.global_scale = nn.Parameter(torch.full((1, size), scale_init))
        self.global_offset = nn.Parameter(torch.zeros(1, size))
        w_perm = _random_rotation(size, generator)
        self.register_buffer("w_perm", w_perm)
        self.register_buffer("w_perm_inv", w_perm.T.contiguous())

    def _log_scale(self, activation: torch.Tensor) -> torch.Tensor:
        if self.clamp_mode == "scaled":
            return self.clamp * torch.tanh(activation / self.clamp)
        return self.clamp * torch.tanh(activation)

    def _coupling(self, x1: torch.Tensor, subnet_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-scale and shift ``(B, size // 2)`` each, computed from the untouched half ``x1``; the sub-network
        runs under autocast to ``subnet_dtype`` when given, its output cast back to ``x1``'s dtype."""
        with torch.autocast(x1.device.type, dtype=subnet_dtype, enabled=subnet_dtype is not None):
            a = self.subnet(x1)
        a = self.subnet_output_scale * a.to(x1.dtype)
        half = a.shape[1] // 2
        return self._log_scale(a[:, :half]), a[:, half:]

    def _global_scale(self) -> torch.Tensor:
        return 0.1 * nn.functional.softplus(self.global_scale, beta=0.5)  # (1, size)

    def forward(self, x: torch.Tensor, subnet_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, size) -> (B, size), log-det (B,)``; ``subnet_dtype`` as in [`_coupling`]."""
        x1, x2 = x[:, : self.split], x[:, self.split :]
        log_scale, shift = self._coupling(x1, subnet_dtype)
        x2 = x2 * torch.exp(log_scale) + shift
        scale = self._global_scale()
        y = (torch.cat([x1, x2], dim=1) * scale + self.global_offset) @ self.w_perm.T
        return y, log_scale.sum(dim=1) + torch.log(scale).sum()

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Exact inverse of [`forward`]: ``(B, size) -> (B, size)``."""
        x = (y @ self.w_perm_inv.T - self.global_offset) / self._global_scale()
        x1, x2 = x[:, : self.split], x[:, self.split :]
        log_scale, shift = self._coupling(x1)
        return torch.cat([x1, (x2 - shift) * torch.exp(-log_scale)], dim=1)


class PoseFlowPrior(_PosePreTrainedModel):
    """Density of normalized 2D poses: PCA to ``latent_size`` coefficients, then a coupling flow to ``N(0, I)``.

    The PCA mean and basis are buffers, so a saved prior is self-contained; fit them with [`fit_pca`].
    """

    config_class = PoseFlowConfig
    base_model_prefix = "flow"

    def __init__(self, config: PoseFlowConfig):
        super().__init__(config)
        size, coords = config.latent_size, 2 * config.num_joints
        generator = torch.Generator(device="cpu").manual_seed(config.permutation_seed)
        self.blocks = nn.ModuleList([AffineCouplingBlock(config, size, generator) for _ in range(config.num_blocks)])
        self.register_buffer("pca_mean", torch.zeros(coords))
        self.register_buffer("pca_components", torch.eye(coords)[:size].clone())
        self.register_buffer("pca_std", torch.ones(size))  # std of each PCA coefficient over the fitted poses
        self.post_init()

    @torch.no_grad()
    def fit_pca(self, keypoints_2d: torch.Tensor) -> torch.Tensor:
        """Fit the PCA on normalized 2D poses ``(N, J, 2)``; return the explained-variance ratio of each component.

        Components are ordered by variance with scikit-learn's sign convention. Without PCA
        (``num_pca_components=None``) the basis stays the identity and the mean zero. The standard deviation of
        each coefficient is stored too (``pca_std``: the pipeline's pose model; the flow's input scale with
        ``whiten``).
        """
        _check_keypoints(keypoints_2d, self.config.num_joints)
        if keypoints_2d.shape[0] < 2 * self.config.num_joints:
            raise ValueError(f"fit_pca needs at least {2 * self.config.num_joints} poses, got {keypoints_2d.shape[0]}")
        data = keypoints_2d.flatten(1).double()  # (N, 2J)
        mean = data.mean(dim=0)
        _, singular, vh = torch.linalg.svd(data - mean, full_matrices=False)
        signs = torch.sign(vh.gather(1, vh.abs().argmax(dim=1, keepdim=True)))  # (2J, 1)
        variance = singular**2
        size = self.config.latent_size
        if self.config.num_pca_components is not None:
            self.pca_mean.copy_(mean)
            self.pca_components.copy_((vh * signs)[:size])
        coefficients = (data - self.pca_mean.double()) @ self.pca_components.double().T  # (N, latent_size)
        self.pca_std.copy_(coefficients.std(dim=0).clamp(min=1e-8))
        return (variance / variance.sum()).float()

    def _input_scale(self) -> torch.Tensor:
        """What the PCA coefficients are divided by before the flow: their std with ``whiten``, else 1."""
        return self.pca_std if self.config.whiten else torch.ones_like(self.pca_std)

    def to_latent(self, keypoints_2d: torch.Tensor) -> torch.Tensor:
        """The flow's input ``(B, latent_size)``: PCA coefficients of normalized 2D poses ``(B, J, 2)``."""
        return (keypoints_2d.flatten(1) - self.pca_mean) @ self.pca_components.T / self._input_scale()

    def from_latent(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Normalized 2D poses ``(B, J, 2)`` from the flow's input ``(B, latent_size)`` (inverse of `to_latent`)."""
        pose = (coefficients * self._input_scale()) @ self.pca_components + self.pca_mean
        return pose.unflatten(1, (self.config.num_joints, 2))

    def flow(
        self, coefficients: torch.Tensor, subnet_dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Coefficients ``(B, latent_size)`` -> latent ``z`` ``(B, latent_size)`` and log-det ``(B,)``.

        ``subnet_dtype`` (e.g. ``torch.bfloat16``) runs the coupling sub-networks in that precision; everything
        else stays in the inputs' dtype.
        """
        log_det = coefficients.new_zeros(coefficients.shape[0])
        for block in self.blocks:
            coefficients, block_log_det = block(coefficients, subnet_dtype)
            log_det = log_det + block_log_det
        return coefficients, log_det

    def inverse(self, latent: torch.Tensor) -> torch.Tensor:
        """Exact inverse of [`flow`]: latent ``(B, latent_size)`` -> PCA coefficients."""
        for block in reversed(self.blocks):
            latent = block.inverse(latent)
        return latent

    def forward(self, keypoints_2d: torch.Tensor, return_dict: bool | None = None) -> PoseFlowOutput:
        """Latent, log-det and log-density of normalized 2D poses ``(B, J, 2)``.

        Densities are float32 under autocast, with one exception while the flow itself trains (training mode):
        the coupling sub-networks, its large matrix products, then run in the autocast dtype. Their rounding moves a
        pose's log-density by about one nat, noise that maximum likelihood averages out but a frozen prior scoring
        poses must not add; the PCA, the coupling arithmetic and the mixing always stay float32.
        """
        _check_keypoints(keypoints_2d, self.config.num_joints)
        device = keypoints_2d.device.type
        low_precision = self.training and torch.is_autocast_enabled(device)
        subnet_dtype = torch.get_autocast_dtype(device) if low_precision else None
        with torch.autocast(device, enabled=False):
            latent, log_det = self.flow(self.to_latent(keypoints_2d), subnet_dtype)
            log_det = log_det - torch.log(self._input_scale()).sum()  # density of the unwhitened PCA coefficients
            log_prob = log_det - 0.5 * latent.square().sum(dim=1) - 0.5 * latent.shape[1] * math.log(2 * math.pi)
        output = PoseFlowOutput(latent=latent, log_det=log_det, log_prob=log_prob)
        return output if return_dict is not False else output.to_tuple()

    def log_prob(self, keypoints_2d: torch.Tensor) -> torch.Tensor:
        """Log-density ``(B,)`` of normalized 2D poses ``(B, J, 2)`` (density of their PCA coefficients)."""
        return self(keypoints_2d).log_prob

    @torch.no_grad()
    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw normalized 2D poses ``(num_samples, J, 2)`` by inverting the flow on Gaussian latents."""
        latent = torch.randn(num_samples, self.config.latent_size, generator=generator, device=self.pca_mean.device)
        return self.from_latent(self.inverse(latent))
