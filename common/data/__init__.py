"""Data: sources (arrays, tfds array_record, image folders, HDF5, bundled images, generators) and grain
pipelines (deterministic shuffle, per-process sharding, random transforms, batching)."""

from common.data import transforms
from common.data.pipeline import eval_batches, train_pipeline
from common.data.sources import (
  ArraySource,
  DatasetNotFoundError,
  H5Source,
  ImageFolderSource,
  ProceduralSource,
  Subset,
  bundled_gray,
  bundled_rgb,
  digits,
  tfds_source,
)

__all__ = [
  "ArraySource",
  "DatasetNotFoundError",
  "H5Source",
  "ImageFolderSource",
  "ProceduralSource",
  "Subset",
  "bundled_gray",
  "bundled_rgb",
  "digits",
  "tfds_source",
  "eval_batches",
  "train_pipeline",
  "transforms",
]
