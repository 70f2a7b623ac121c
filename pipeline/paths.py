"""Where each artifact lives (the same paths dvc.yaml declares)."""
from collections.abc import Mapping
from pathlib import Path

DATA = Path("data")
SYNTHETIC_RAW = DATA / "raw" / "synthetic"
INTERIM_SKELETONS = DATA / "interim" / "skeletons.zarr"
FEATURES = DATA / "features"  # one store per variant: skeleton/<v>.zarr, heatmaps/<v>.zarr, video/<v>/<store>.zarr
DEFAULT_VARIANT = "default"
REPORTS = DATA / "reports"
MODELS = DATA / "models"
CHECKPOINTS = DATA / "checkpoints"
METRICS = DATA / "metrics"
PLOTS = DATA / "plots"
WORK = DATA / "work"  # resumable stage work: work/<stage>/<fingerprint>/ (git-ignored, not a DVC output)
LIVE = DATA / "live"  # dvclive folders: live/<model>/train (per-epoch curves), live/<model>/eval (final metrics)



def feature_store(store: str, variant: str = DEFAULT_VARIANT) -> Path:
    """Where variant `variant` of feature store `store` lives (the paths dvc.yaml's foreach stages declare)."""
    if store in ("skeleton", "heatmaps"):
        return FEATURES / store / f"{variant}.zarr"
    if store in ("rgb_clips", "part_crops", "stroi"):
        return video_folder(variant) / f"{store}.zarr"
    raise KeyError(f"unknown feature store {store!r}")


def video_folder(variant: str) -> Path:
    """The output of stage video@<variant>: the stores its variant writes."""
    return FEATURES / "video" / variant


def feature_stores(variants: Mapping[str, str]) -> dict[str, Path]:
    """store -> path for a model's `train_<model>.stores` (store -> variant)."""
    return {store: feature_store(store, variant) for store, variant in variants.items()}


def quarantine(stage: str, variant: str) -> Path:
    """The quarantine CSV of stage <stage>@<variant>."""
    return REPORTS / f"{stage}_quarantine" / f"{variant}.csv"


def work(stage: str, variant: str) -> Path:
    """The resumable work root of stage <stage>@<variant> (har.io.work)."""
    return WORK / stage / variant


# Each feature store's default variant (what `har-prep show` reads unless given --store).
DEFAULT_STORES = {store: feature_store(store) for store in ("skeleton", "heatmaps", "rgb_clips", "part_crops",
                                                            "stroi")}
