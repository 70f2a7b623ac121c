"""The stage layer: one thin module per DVC stage and the `har-prep` command line."""
