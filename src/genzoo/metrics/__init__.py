"""Evaluation metrics. Model-level metrics are registered by name (``gz.list_metrics()``)."""
