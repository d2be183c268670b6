"""Pre-train, probe or fine-tune with the shared trainer (the mode is in the config file).

  python -m sdmae.main --config=configs/sdmae/pretrain.py:embedded,sdmae --workdir=DIR [--config.x=y ...]
"""

import sys

from common import main as common_main

if __name__ == "__main__":
  from absl import flags
  flags.FLAGS.mark_as_parsed()
  sys.exit(common_main.main())
