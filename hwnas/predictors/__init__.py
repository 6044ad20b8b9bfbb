"""Latency predictors: features from configs alone, several regressor families compared by
cross-validation, JSON save/load. No torch here: a search runs from a saved predictor alone."""

from hwnas.predictors.families import FAMILIES, Family, make
from hwnas.predictors.features import feature_matrix, feature_names, layer_tensor, to_batch
from hwnas.predictors.io import load_predictor, save_predictor
from hwnas.predictors.metrics import noise_floor, quality
from hwnas.predictors.predictor import LatencyPredictor

__all__ = [
    "LatencyPredictor",
    "load_predictor",
    "save_predictor",
    "FAMILIES",
    "Family",
    "make",
    "feature_matrix",
    "feature_names",
    "layer_tensor",
    "to_batch",
    "quality",
    "noise_floor",
]
