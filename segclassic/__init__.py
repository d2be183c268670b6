"""Classic segmentation operators of the segmentation lecture as batched, jit-able JAX functions.

Thresholds (global iterative, Otsu with the lecture's variance table, the Bayes decision / minimum-error
threshold, local, locally adaptive Otsu), k-means on colour / colour+position (k-means++ or the
lecture's random start), binary and grayscale morphology, hit-or-miss, thinning and thickening (Guo-Hall
or the lecture's hit-or-miss), histogram equalization. Reference behaviour: scikit-image 0.26 and scipy.ndimage.
"""

from segclassic.kmeans import kmeans, kmeans_features, kmeans_segment
from segclassic.morphology import (
  binary_closing,
  binary_dilation,
  binary_erosion,
  binary_opening,
  closing,
  cross,
  dilation,
  disk,
  erosion,
  hit_or_miss,
  opening,
  square,
  thicken,
  thin,
)
from segclassic.thresholds import (
  bayes_threshold,
  equalize_hist,
  histogram,
  minimum_error_criterion,
  otsu_variances,
  threshold_adaptive_otsu,
  threshold_iterative,
  threshold_local,
  threshold_minimum_error,
  threshold_otsu,
)

__all__ = [
  "threshold_otsu",
  "otsu_variances",
  "threshold_iterative",
  "threshold_local",
  "threshold_adaptive_otsu",
  "threshold_minimum_error",
  "minimum_error_criterion",
  "bayes_threshold",
  "histogram",
  "equalize_hist",
  "kmeans",
  "kmeans_features",
  "kmeans_segment",
  "erosion",
  "dilation",
  "opening",
  "closing",
  "binary_erosion",
  "binary_dilation",
  "binary_opening",
  "binary_closing",
  "hit_or_miss",
  "thin",
  "thicken",
  "cross",
  "square",
  "disk",
]
