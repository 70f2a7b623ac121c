"""har: the library (readers, transforms, artifact builders, models, training); it never reads params.yaml."""
