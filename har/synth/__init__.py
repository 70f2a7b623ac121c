"""Synthetic NTU RGB+D data in the exact raw formats (.skeleton text + _rgb.avi video): the project's embedded
default dataset. See generate.generate_dataset and config.SynthConfig."""
from har.synth.actions import (
                               ACTION_CLASSES,
                               APPEARANCE_PAIRS,
                               CLASSES_BY_ACTION,
                               DEFAULT_ACTIONS,
                               ActionClass,
                               action_class,
                               appearance_pairs_within,
)
from har.synth.config import SynthConfig
from har.synth.generate import MANIFEST, RGB_DIR, SKELETON_DIR, generate_dataset, sample_names

__all__ = ["ACTION_CLASSES", "APPEARANCE_PAIRS", "CLASSES_BY_ACTION", "DEFAULT_ACTIONS", "ActionClass",
           "action_class", "appearance_pairs_within", "SynthConfig", "generate_dataset", "sample_names",
           "MANIFEST", "RGB_DIR", "SKELETON_DIR"]
