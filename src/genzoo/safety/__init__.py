"""Safety tools: watermarks that let a model's owner recognise its outputs later.

``text_watermark``: the KGW green-list watermark for text (Kirchenbauer et al. 2023), compatible
with transformers' ``WatermarkingConfig`` / ``WatermarkDetector``.
"""
from .text_watermark import WatermarkConfig, WatermarkLogitsProcessor, detect, green_list

__all__ = ["WatermarkConfig", "WatermarkLogitsProcessor", "detect", "green_list"]
