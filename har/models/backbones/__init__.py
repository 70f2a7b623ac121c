"""Backbone networks the models are built from (plain torch)."""
