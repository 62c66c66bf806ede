"""ElePose for the Hugging Face ecosystem: unsupervised 2D-to-3D human pose lifting with a flow prior."""

from transformers import AutoConfig, AutoModel

from .configuration_elepose import ElePoseConfig, PoseFlowConfig
from .keypoint_io import KeypointSet, read_keypoints
from .modeling_elepose import ElePoseLifter, ElePoseLifterOutput, PoseFlowOutput, PoseFlowPrior
from .pipeline import ElePosePipeline, LiftResult

for _config, _model in ((ElePoseConfig, ElePoseLifter), (PoseFlowConfig, PoseFlowPrior)):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
    # Saved directories carry the code, so they load with trust_remote_code=True without this package.
    _config.register_for_auto_class()
    _model.register_for_auto_class("AutoModel")

__version__ = "0.1.0"
__all__ = [
    "ElePoseConfig",
    "ElePosePipeline",
    "KeypointSet",
    "LiftResult",
    "read_keypoints",
    "ElePoseLifter",
    "ElePoseLifterOutput",
    "PoseFlowConfig",
    "PoseFlowOutput",
    "PoseFlowPrior",
]
