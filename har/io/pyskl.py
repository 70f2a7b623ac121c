"""Reader for PYSKL annotation pickles (DESIGN.md §4): `ntu60_3danno.pkl`-style 3D and `ntu60_hrnet.pkl`-style 2D.

A pickle holds `dict(split={name: [frame_dir, ...]}, annotations=[...])`; per sample `frame_dir`, `label`
(0-based), `total_frames`, `keypoint` (M, T, V, C) and, for 2D, `keypoint_score` (M, T, V), `img_shape`,
`original_shape`. Split names are `<benchmark>_train` / `<benchmark>_val` (xsub, xview, NTU120 xset); PYSKL's
`val` is our `test`. Everything is validated on load; errors name the file, the sample and what is wrong.

Pickles can run code when loaded, so only the classes a PYSKL pickle needs (numpy arrays, dtypes and scalars)
may be constructed; anything else is refused with an error naming the class.
"""
from __future__ import annotations

import codecs
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np

from har.errors import HarError

# What numpy's own pickles reference (numpy 1 wrote numpy.core, numpy 2 writes numpy._core).
_NUMPY_GLOBALS = {"_reconstruct": np.zeros(1).__reduce__()[0], "scalar": np.float64(0).__reduce__()[0],
                  "ndarray": np.ndarray, "dtype": np.dtype}
_ALLOWED_GLOBALS = {(module, name): value for module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
                    for name, value in _NUMPY_GLOBALS.items()}
# Protocol 2 (what mmcv.dump writes, so most PYSKL files) stores bytes as _codecs.encode(text, 'latin1').
_ALLOWED_GLOBALS["_codecs", "encode"] = codecs.encode
_SPLIT_PARTS = {"train": "train", "val": "test"}
_NTU120_BENCHMARKS = ("xset",)


class PysklFormatError(HarError, ValueError):
    """A PYSKL pickle that does not hold what the format promises; the message names file, sample and problem."""


@dataclass(frozen=True, eq=False)
class PysklSample:
    """One annotation.

    name: frame_dir (e.g. 'S001C001P001R001A001')   label: 0-based class
    keypoint: (M, T, V, C) float32 (C = 3: metres, C = 2: pixels)   score: (M, T, V) float32 or None (3D)
    img_shape: (height, width) of the frames the 2D keypoints refer to, or None (3D)
    """
    name: str
    label: int
    keypoint: np.ndarray
    score: np.ndarray | None
    img_shape: tuple[int, int] | None

    @property
    def num_frames(self) -> int:
        return int(self.keypoint.shape[1])


@dataclass(frozen=True, eq=False)
class PysklDataset:
    """samples: in file order. splits: {benchmark: {'train': idx, 'test': idx}} sorted int64 indices into
    samples. dims: 2 or 3. num_joints: V (25 for NTU 3D, 17 for COCO 2D)."""
    path: str
    samples: list[PysklSample]
    splits: dict[str, dict[str, np.ndarray]]
    dims: int
    num_joints: int

    def index(self) -> dict[str, int]:
        """Sample name -> position in samples."""
        return {sample.name: i for i, sample in enumerate(self.samples)}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to construct {module}.{name}: a PYSKL pickle holds only "
                                         f"dicts, lists, tuples, strings, numbers and numpy arrays") from None


def read_pyskl(path, num_classes: int | None = None) -> PysklDataset:
    """Load and validate a PYSKL pickle. num_classes bounds the labels (default: 120 when the file has NTU120's
    xset splits, else 60)."""
    path = str(path)
    try:
        with open(path, "rb") as handle:
            content = _NumpyOnlyUnpickler(handle).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as error:
        raise PysklFormatError(f"{path}: not a readable PYSKL pickle ({error})") from None
    return parse_pyskl(content, path, num_classes)


def parse_pyskl(content: Any, path: str = "<pyskl>", num_classes: int | None = None) -> PysklDataset:
    """Validate an already unpickled PYSKL object (see read_pyskl)."""
    if not isinstance(content, dict) or not {"split", "annotations"} <= content.keys():
        found = sorted(content) if isinstance(content, dict) else type(content).__name__
        raise PysklFormatError(f"{path}: expected dict(split=..., annotations=[...]), found {found}")
    split, annotations = content["split"], content["annotations"]
    if not isinstance(annotations, list) or not isinstance(split, dict):
        raise PysklFormatError(f"{path}: 'annotations' must be a list and 'split' a dict")
    if num_classes is None:
        num_classes = 120 if any(str(k).split("_")[0] in _NTU120_BENCHMARKS for k in split) else 60
    samples = [_sample(annotation, i, path, num_classes) for i, annotation in enumerate(annotations)]
    dims, num_joints = _common_shape(samples, path)
    return PysklDataset(path, samples, _splits(split, samples, path), dims, num_joints)


def _sample(annotation: Any, position: int, path: str, num_classes: int) -> PysklSample:
    if not isinstance(annotation, dict):
        raise PysklFormatError(f"{path}: annotation {position} is a {type(annotation).__name__}, not a dict")
    name = annotation.get("frame_dir")
    where = f"{path}: sample {name!r}" if isinstance(name, str) else f"{path}: annotation {position}"
    missing = [k for k in ("frame_dir", "label", "total_frames", "keypoint") if k not in annotation]
    keypoint = annotation.get("keypoint")
    is_2d = isinstance(keypoint, np.ndarray) and keypoint.ndim == 4 and keypoint.shape[-1] == 2
    if is_2d:
        missing += [k for k in ("keypoint_score", "img_shape") if k not in annotation]
    if missing:
        raise PysklFormatError(f"{where}: missing key(s) {', '.join(missing)}")
    if not isinstance(name, str) or not name:
        raise PysklFormatError(f"{where}: frame_dir must be a non-empty string, found {name!r}")
    keypoint = _array(keypoint, "keypoint", where)
    if keypoint.ndim != 4 or keypoint.shape[-1] not in (2, 3):
        raise PysklFormatError(f"{where}: keypoint must be (M, T, V, 2 or 3), found shape {keypoint.shape}")
    label, total = _integer(annotation["label"], "label", where), _integer(annotation["total_frames"],
                                                                          "total_frames", where)
    if not 0 <= label < num_classes:
        raise PysklFormatError(f"{where}: label {label} is out of range [0, {num_classes})")
    if total != keypoint.shape[1]:
        raise PysklFormatError(f"{where}: total_frames = {total} but keypoint has T = {keypoint.shape[1]} "
                               f"(shape {keypoint.shape})")
    score, img_shape = None, None
    if "keypoint_score" in annotation:
        score = _array(annotation["keypoint_score"], "keypoint_score", where)
        if score.shape != keypoint.shape[:-1]:
            raise PysklFormatError(f"{where}: keypoint_score shape {score.shape} does not match keypoint shape "
                                   f"{keypoint.shape} (expected {keypoint.shape[:-1]})")
    if "img_shape" in annotation:
        img_shape = _shape_pair(annotation["img_shape"], "img_shape", where)
    if "original_shape" in annotation:
        _shape_pair(annotation["original_shape"], "original_shape", where)
    return PysklSample(name, label, keypoint, score, img_shape)


def _array(value: Any, key: str, where: str) -> np.ndarray:
    """value as float32, checked to be a finite numeric array."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        raise PysklFormatError(f"{where}: {key} must be a numeric numpy array, found {type(value).__name__}"
                               + (f" of {value.dtype}" if isinstance(value, np.ndarray) else ""))
    array = value.astype(np.float32)
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise PysklFormatError(f"{where}: {key} has a non-finite value {array[tuple(bad)]} at index "
                               f"{tuple(int(i) for i in bad)}")
    return array


def _integer(value: Any, key: str, where: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise PysklFormatError(f"{where}: {key} must be an integer, found {value!r}")
    return int(value)


def _shape_pair(value: Any, key: str, where: str) -> tuple[int, int]:
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and v > 0 for v in value)):
        raise PysklFormatError(f"{where}: {key} must be (height, width) positive integers, found {value!r}")
    return int(value[0]), int(value[1])


def _common_shape(samples: list[PysklSample], path: str) -> tuple[int, int]:
    """(C, V) shared by every sample."""
    if not samples:
        raise PysklFormatError(f"{path}: no annotations")
    dims, joints = samples[0].keypoint.shape[-1], samples[0].keypoint.shape[-2]
    for sample in samples:
        if sample.keypoint.shape[-2:] != (joints, dims):
            raise PysklFormatError(f"{path}: sample {sample.name!r} has keypoint (V, C) = "
                                   f"{sample.keypoint.shape[-2:]}, but {samples[0].name!r} has {(joints, dims)}")
    return int(dims), int(joints)


def _splits(split: dict, samples: list[PysklSample], path: str) -> dict[str, dict[str, np.ndarray]]:
    """{benchmark: {'train': idx, 'test': idx}} from PYSKL's {'<benchmark>_train' | '<benchmark>_val': names}."""
    index: dict[str, int] = {}
    for i, sample in enumerate(samples):
        if index.setdefault(sample.name, i) != i:
            raise PysklFormatError(f"{path}: sample {sample.name!r} appears twice in annotations")
    result: dict[str, dict[str, np.ndarray]] = {}
    for key, names in split.items():
        benchmark, _, part = str(key).rpartition("_")
        if not benchmark or part not in _SPLIT_PARTS:
            raise PysklFormatError(f"{path}: split {key!r} is not named <benchmark>_train or <benchmark>_val")
        if not isinstance(names, (list, tuple)):
            raise PysklFormatError(f"{path}: split {key!r} must be a list of frame_dir names")
        if len(set(names)) != len(names):
            raise PysklFormatError(f"{path}: split {key!r} lists a sample more than once")
        unknown = [n for n in names if n not in index]
        if unknown:
            raise PysklFormatError(f"{path}: split {key!r} names {len(unknown)} sample(s) not in annotations, "
                                   f"e.g. {unknown[0]!r}")
        result.setdefault(benchmark, {})[_SPLIT_PARTS[part]] = np.sort(
            np.fromiter((index[n] for n in names), np.int64, len(names)))
    for benchmark, parts in result.items():
        if len(parts) != 2:
            raise PysklFormatError(f"{path}: benchmark {benchmark!r} needs both {benchmark}_train and "
                                   f"{benchmark}_val, found only {sorted(parts)}")
        overlap = np.intersect1d(parts["train"], parts["test"])
        if overlap.size:
            raise PysklFormatError(f"{path}: sample {samples[overlap[0]].name!r} is in both {benchmark}_train "
                                   f"and {benchmark}_val")
    return result
