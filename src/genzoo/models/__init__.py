"""genzoo.models."""
