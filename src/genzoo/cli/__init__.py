"""genzoo.cli."""
