"""genzoo.features."""
