"""Pre-train, probe or fine-tune with the shared trainer (the mode is in the config file).

python -m sdmae.main --config=configs/sdmae/pretrain.py:embedded,sdmae --workdir=DIR [--config.x=y ...]
"""

from common import cli

cli.define_train_flags()

if __name__ == "__main__":
  cli.run(cli.train_main)
