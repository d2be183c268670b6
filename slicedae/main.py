"""Train a sliced generative autoencoder with the shared trainer.

  python -m slicedae.main --config=configs/slicedae/digits.py:scwae --workdir=DIR [--config.x=y ...]
"""

import sys

from common import main as common_main

if __name__ == "__main__":
  from absl import flags
  flags.FLAGS.mark_as_parsed()
  sys.exit(common_main.main())
