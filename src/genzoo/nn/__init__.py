"""genzoo.nn."""
