"""Training: the shared loop, data loading, checkpoints, evaluation, metrics and the report."""
