"""Pure transforms on arrays: denoising, normalisation, sampling, boxes, crops, heatmaps, mosaics."""
