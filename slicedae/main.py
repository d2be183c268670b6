"""Train a sliced generative autoencoder with the shared trainer.

python -m slicedae.main --config=configs/slicedae/digits.py:scwae --workdir=DIR [--config.x=y ...]
"""

from common import cli

cli.define_train_flags()

if __name__ == "__main__":
  cli.run(cli.train_main)
