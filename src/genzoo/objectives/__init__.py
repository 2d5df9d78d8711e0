"""genzoo.objectives."""
