"""`har-prep show heatmaps SAMPLE`: the sample's pseudo-heatmaps summed over joints, for a few frames."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from har.train.inputs import to_unit
from har.viz import montage, upscale, with_caption, write_png
from pipeline import paths
from pipeline.show import _caption, _sample_row


def show_heatmaps(sample: str, out_png: Path, store: Path = paths.DEFAULT_STORES["heatmaps"], frames: int = 8,
                  min_side: int = 128) -> Path:
    """`frames` evenly spaced frames of the (K, T, H, W) heatmaps, joints summed (clipped to 1), colour-mapped."""
    group, row, label = _sample_row(store, "heatmaps", sample)
    maps = to_unit(np.asarray(group["heatmaps"][row]))  # (K, T, H, W)
    joints = int(group.attrs.get("channels", maps.shape[0]))
    chosen = np.linspace(0, maps.shape[1] - 1, min(frames, maps.shape[1])).round().astype(int)
    tiles = []
    for t in chosen:
        summed = np.clip(maps[:joints, t].sum(axis=0), 0.0, 1.0)
        coloured = cv2.applyColorMap((summed * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
        tiles.append(with_caption(upscale(coloured, min_side), [f"sampled frame {t}"]))
    detail = f"{maps.shape[0]} channels x {maps.shape[1]} frames, {maps.shape[2]}x{maps.shape[3]}"
    write_png(out_png, with_caption(montage(tiles, columns=len(tiles)), _caption(sample, label, detail)))
    return Path(out_png)
