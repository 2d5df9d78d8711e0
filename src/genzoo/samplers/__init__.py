"""genzoo.samplers."""
