"""Safety tools: watermarks that let a model's owner recognise its outputs later.

``text_watermark``: the KGW green-list watermark for text (Kirchenbauer et al. 2023), compatible
with transformers' ``WatermarkingConfig`` / ``WatermarkDetector``.

Filters (docs/guardrails.md; imported on use, presidio takes seconds to load): ``pii`` (PII detection and
redaction), ``guardrails`` (input/output guards, streaming-safe), ``image_checker`` (the diffusion
pipeline's ``safety_checker``).
"""
from .text_watermark import WatermarkConfig, WatermarkLogitsProcessor, detect, green_list

__all__ = ["WatermarkConfig", "WatermarkLogitsProcessor", "detect", "green_list"]
