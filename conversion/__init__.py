"""Converters of the ElePose authors' checkpoints and of pose datasets to this library's formats."""
