"""Readers and writers: NTU .skeleton text, PYSKL pickles, videos, zarr stores."""
