"""Feature extractors for feature-space metrics (FID, KID, PRDC, ...).

``extractor_for(data)`` picks the shipped classifier for a built-in image set: ``digits*`` ->
"digits", ``shapes*`` -> "shapes" (labels "FID-digits" / "FID-shapes", never "Inception FID").
"""
from .classifier import SmallConvNet, load_extractor, save_extractor

EXTRACTOR_FOR_DATASET = {"digits": "digits", "digits16": "digits", "shapes": "shapes"}


def extractor_name_for(dataset_name: str) -> str | None:
    """Name of the shipped extractor for a dataset (``*-bin`` variants share their base's), or None."""
    base = dataset_name[:-4] if dataset_name.endswith("-bin") else dataset_name
    return EXTRACTOR_FOR_DATASET.get(base)


__all__ = ["SmallConvNet", "load_extractor", "save_extractor", "extractor_name_for", "EXTRACTOR_FOR_DATASET"]
