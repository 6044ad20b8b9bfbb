"""Wiring between the layers: what the CLI calls."""
