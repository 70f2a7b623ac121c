"""Artifact builders: one per data stage, streaming samples from a store into a new zarr store."""
