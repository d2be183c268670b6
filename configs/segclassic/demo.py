"""Parameters of the segclassic demo and CLI defaults (no training: the operators are closed form).

Run: python -m segclassic.main [IMAGE] --method=adaptive_otsu --window=32 --var_threshold=150 --out=DIR
"""

import ml_collections

from common.config import parse_arg


def get_config(arg=None):
  a = parse_arg(arg, smoke=False)
  c = ml_collections.ConfigDict()
  c.local = ml_collections.ConfigDict(
    dict(block_size=35, offset=10.0, method="gaussian", mode="reflect")
  )
  c.adaptive_otsu = ml_collections.ConfigDict(dict(window=32, var_threshold=150.0))
  c.kmeans = ml_collections.ConfigDict(
    dict(k=4, features="color", position_weight=1.0, n_init=4, max_iter=100)
  )
  c.morphology = ml_collections.ConfigDict(dict(disk_radius=3))
  c.images = ("camera", "coins", "page", "text", "horse")
  if a.smoke:
    c.images = ("camera",)
  return c
