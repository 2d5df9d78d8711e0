"""The genzoo version (a module of its own so that reading it imports nothing heavy)."""
GENZOO_VERSION = "0.1.0"
