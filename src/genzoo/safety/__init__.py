"""Safety tools: watermarks that let a model's owner recognise its outputs later.

``text_watermark``: the KGW green-list watermark for text (Kirchenbauer et al. 2023), compatible
with transformers' ``WatermarkingConfig`` / ``WatermarkDetector``.
``tree_ring``: the Tree-Ring image watermark of diffusion samples (Wen et al. 2023), detected by DDIM inversion.
``dwt_dct``: the DWT-DCT invisible watermark of ``invisible-watermark`` (SDXL's), the image baseline.
``image_files``: reading/writing the images those two score (docs/image_watermark.md).

Filters (docs/guardrails.md; imported on use, presidio takes seconds to load): ``pii`` (PII detection and
redaction), ``guardrails`` (input/output guards, streaming-safe), ``image_checker`` (the diffusion
pipeline's ``safety_checker``).
"""
from .text_watermark import WatermarkConfig, WatermarkLogitsProcessor, detect, green_list

__all__ = ["WatermarkConfig", "WatermarkLogitsProcessor", "detect", "green_list"]
