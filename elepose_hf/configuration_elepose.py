"""Configurations of the ElePose lifting network and of its normalizing-flow prior on 2D poses."""

from __future__ import annotations

import math

from transformers import PretrainedConfig

from .skeleton import BONES, JOINT_NAMES, REFERENCE_RELATIVE_BONE_LENGTHS

NORMALIZATION_MODES = ("dataset", "per_pose")
CLAMP_MODES = ("scaled", "unscaled")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


class _PoseConfigMixin:
    """Fields that both models share: the joint set and the 2D normalization of their inputs."""

    def _init_pose_fields(
        self,
        num_joints: int,
        normalization: str,
        normalization_scale: float | None,
        normalized_head_length: float,
        kwargs: dict,
    ) -> None:
        _check_choice("normalization", normalization, NORMALIZATION_MODES)
        if num_joints != len(JOINT_NAMES):
            raise ValueError(f"num_joints must be {len(JOINT_NAMES)} (the Human3.6M order), got {num_joints}")
        self.num_joints = num_joints
        self.normalization = normalization
        self.normalization_scale = normalization_scale
        self.normalized_head_length = normalized_head_length
        kwargs.setdefault("id2label", dict(enumerate(JOINT_NAMES)))
        self.edges = [list(bone) for bone in kwargs.pop("edges", BONES)]


class ElePoseConfig(_PoseConfigMixin, PretrainedConfig):
    r"""Configuration of [`ElePoseLifter`] and of its training objective. Defaults are the paper's values.

    Args:
        num_joints (`int`, defaults to 17): joints in the Human3.6M / VideoPose3D order.
        hidden_size (`int`, defaults to 1024): width of every hidden layer.
        num_shared_blocks (`int`, defaults to 1): residual blocks shared by the depth and elevation branches.
        num_branch_blocks (`int`, defaults to 2): residual blocks in each branch (both branches have this shape).
        negative_slope (`float`, defaults to 0.01): slope of the LeakyReLU activations.
        input_activation (`bool`, defaults to `True`): LeakyReLU after the input layer (paper); the authors'
            code has none.
        fix_root_depth (`bool`, defaults to `True`): force the root joint's depth offset to 0 so that the root
            sits at depth ``depth_offset`` (authors' code).
        depth_offset (`float`, defaults to 10.0): constant depth ``D``; predicted depths are ``w = d + D``.
        min_depth (`float`, defaults to 1.0): depths are clipped to at least this value during training.
        normalization (`str`, defaults to `"dataset"`): ``"dataset"`` divides root-centred 2D poses by the
            dataset's mean root-to-head distance ``normalization_scale`` (authors' code); ``"per_pose"`` by each
            pose's own (paper's text).
        normalization_scale (`float`, *optional*): mean root-to-head distance of the training poses in input
            units (pixels); set by training.
        normalized_head_length (`float`, defaults to 0.1): root-to-head distance after normalization (``1/D``).
        initial_elevation (`float`, defaults to 0.2): bias of the elevation head at initialization, radians (about
            11 degrees: cameras usually look down at people). A 2D pose and its depth-mirrored 3D seen from the
            opposite elevation project almost alike, and training settles in either solution; starting above
            zero picks the upright one (on ElePose-Bench a 0 start once converged to the mirror: -10 degrees
            predicted for +12 true, N-MPJPE 186 mm).
        elevation_mean (`float`, *optional*), elevation_std (`float`, *optional*): the learned camera elevation
            distribution ``N(mean, std)`` over the training set, radians; set by training.
        use_elevation (`bool`, defaults to `True`): undo the predicted elevation and sample virtual elevations from
            the learned distribution; `False` is Table 5's ablation with a fixed uniform elevation prior.
        elevation_statistics_gradient (`bool`, defaults to `True`): backpropagate through the batch mean and std
            of the predicted elevations when sampling virtual elevations (the paper's reparametrization). With
            `False` they are constants of the step, so the likelihood cannot pull every prediction to the flow's
            mode; each elevation is then trained by the levelling alone.
        fixed_elevation_range (`float`, defaults to pi/9): half-width of that uniform prior, radians.
        reference_bone_lengths (`list[float]`): mean relative bone lengths of the bone prior; Human3.6M's by
            default, set from the training 2D poses by `train-lifter` (`--bone-reference train`).
        bone_std (`float`, defaults to 1/sqrt(2)): standard deviation of the bone prior; 1/sqrt(2) makes its
            negative log-likelihood the authors' sum of squared differences.
        loss_weight_likelihood, loss_weight_bone, loss_weight_3d, loss_weight_deformation, loss_weight_2d
            (`float`, defaults to 1, 50, 1, 1, 1): weights of the loss terms (Eq. 13).
    """

    model_type = "elepose_lifter"

    def __init__(
        self,
        num_joints: int = 17,
        hidden_size: int = 1024,
        num_shared_blocks: int = 1,
        num_branch_blocks: int = 2,
        negative_slope: float = 0.01,
        input_activation: bool = True,
        fix_root_depth: bool = True,
        depth_offset: float = 10.0,
        min_depth: float = 1.0,
        normalization: str = "dataset",
        normalization_scale: float | None = None,
        normalized_head_length: float = 0.1,
        initial_elevation: float = 0.2,
        elevation_mean: float | None = None,
        elevation_std: float | None = None,
        use_elevation: bool = True,
        elevation_statistics_gradient: bool = True,
        fixed_elevation_range: float = math.pi / 9,
        reference_bone_lengths: list[float] | None = None,
        bone_std: float = 1 / math.sqrt(2),
        loss_weight_likelihood: float = 1.0,
        loss_weight_bone: float = 50.0,
        loss_weight_3d: float = 1.0,
        loss_weight_deformation: float = 1.0,
        loss_weight_2d: float = 1.0,
        **kwargs,
    ):
        self._init_pose_fields(num_joints, normalization, normalization_scale, normalized_head_length, kwargs)
        self.hidden_size = hidden_size
        self.num_shared_blocks = num_shared_blocks
        self.num_branch_blocks = num_branch_blocks
        self.negative_slope = negative_slope
        self.input_activation = input_activation
        self.fix_root_depth = fix_root_depth
        self.depth_offset = depth_offset
        self.min_depth = min_depth
        self.initial_elevation = initial_elevation
        self.elevation_mean = elevation_mean
        self.elevation_std = elevation_std
        self.use_elevation = use_elevation
        self.elevation_statistics_gradient = elevation_statistics_gradient
        self.fixed_elevation_range = fixed_elevation_range
        self.reference_bone_lengths = list(reference_bone_lengths or REFERENCE_RELATIVE_BONE_LENGTHS)
        if len(self.reference_bone_lengths) != len(BONES):
            raise ValueError(
                f"reference_bone_lengths needs {len(BONES)} values, got {len(self.reference_bone_lengths)}"
            )
        self.bone_std = bone_std
        self.loss_weight_likelihood = loss_weight_likelihood
        self.loss_weight_bone = loss_weight_bone
        self.loss_weight_3d = loss_weight_3d
        self.loss_weight_deformation = loss_weight_deformation
        self.loss_weight_2d = loss_weight_2d
        super().__init__(**kwargs)


class PoseFlowConfig(_PoseConfigMixin, PretrainedConfig):
    r"""Configuration of [`PoseFlowPrior`]: a normalizing flow on PCA coefficients of normalized 2D poses.

    Args:
        num_joints (`int`, defaults to 17): joints in the Human3.6M / VideoPose3D order.
        num_pca_components (`int`, *optional*, defaults to 26): PCA coefficients the flow models; `None` runs the
            flow on the raw ``2 * num_joints`` coordinates (Table 5's "no PCA" ablation).
        whiten (`bool`, defaults to `False`): divide the PCA coefficients by their standard deviations before the
            flow (a fixed linear map: densities stay exact). It trains faster, but it blows the tiny trailing
            components up to unit scale and the flow then overfits them: on ElePose-Bench a whitened flow (20
            epochs) scored held-out poses at mean NLL -89 against -98 unwhitened, with a heavy tail that rates
            virtual views of the true 3D poses worse than flat poses, and the lifter trained against it stayed
            at the flat-depth baseline. Off, as in the authors' code.
        num_blocks (`int`, defaults to 8): affine coupling blocks.
        hidden_size (`int`, defaults to 1024): width of each coupling sub-network (two linear layers, ReLU).
        clamp (`float`, defaults to 2.0): bound of the soft-clamped log-scales.
        clamp_mode (`str`, defaults to `"scaled"`): ``"scaled"`` clamps log-scales as ``clamp * tanh(a / clamp)``
            (current FrEIA); ``"unscaled"`` as ``clamp * tanh(a)`` (the FrEIA snapshot of the authors' checkpoint).
        subnet_output_scale (`float`, defaults to 0.1): factor on the sub-network output (FrEIA's AllInOneBlock).
        global_affine_init (`float`, defaults to 1.0): initial per-channel scale of each block.
        permutation_seed (`int`, defaults to 0): seed of the fixed random orthogonal mixing between blocks.
        normalization, normalization_scale, normalized_head_length: as in [`ElePoseConfig`]; the flow models
            poses normalized this way.
    """

    model_type = "elepose_flow"

    def __init__(
        self,
        num_joints: int = 17,
        num_pca_components: int | None = 26,
        whiten: bool = False,
        num_blocks: int = 8,
        hidden_size: int = 1024,
        clamp: float = 2.0,
        clamp_mode: str = "scaled",
        subnet_output_scale: float = 0.1,
        global_affine_init: float = 1.0,
        permutation_seed: int = 0,
        normalization: str = "dataset",
        normalization_scale: float | None = None,
        normalized_head_length: float = 0.1,
        **kwargs,
    ):
        self._init_pose_fields(num_joints, normalization, normalization_scale, normalized_head_length, kwargs)
        _check_choice("clamp_mode", clamp_mode, CLAMP_MODES)
        if num_pca_components is not None and not 1 <= num_pca_components <= 2 * num_joints:
            raise ValueError(f"num_pca_components must be in [1, {2 * num_joints}] or None, got {num_pca_components}")
        self.num_pca_components = num_pca_components
        self.whiten = whiten
        self.num_blocks = num_blocks
        self.hidden_size = hidden_size
        self.clamp = clamp
        self.clamp_mode = clamp_mode
        self.subnet_output_scale = subnet_output_scale
        self.global_affine_init = global_affine_init
        self.permutation_seed = permutation_seed
        super().__init__(**kwargs)

    @property
    def latent_size(self) -> int:
        """Dimension of the flow's input and latent: the PCA size, or all coordinates without PCA."""
        return self.num_pca_components or 2 * self.num_joints
