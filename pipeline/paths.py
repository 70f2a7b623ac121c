"""Where each artifact lives (the same paths dvc.yaml declares)."""
from pathlib import Path

DATA = Path("data")
SYNTHETIC_RAW = DATA / "raw" / "synthetic"
INTERIM_SKELETONS = DATA / "interim" / "skeletons.zarr"
FEATURES = DATA / "features"
SKELETON = FEATURES / "skeleton.zarr"
HEATMAPS = FEATURES / "heatmaps.zarr"
RGB_CLIPS = FEATURES / "rgb_clips.zarr"
PART_CROPS = FEATURES / "part_crops.zarr"
STROI = FEATURES / "stroi.zarr"
REPORTS = DATA / "reports"
MODELS = DATA / "models"
CHECKPOINTS = DATA / "checkpoints"
METRICS = DATA / "metrics"
PLOTS = DATA / "plots"
LIVE = DATA / "live"  # dvclive folders: live/<model>/train (per-epoch curves), live/<model>/eval (final metrics)

FEATURE_STORES = {"skeleton": SKELETON, "heatmaps": HEATMAPS, "rgb_clips": RGB_CLIPS,
                  "part_crops": PART_CROPS, "stroi": STROI}
