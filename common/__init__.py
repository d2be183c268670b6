"""medjax common: the shared runtime (mesh, trainer, checkpoints, data, logging, configs) and formulas."""
