"""Trains the task named by the config's ``task`` ("module:factory") with the shared trainer.

python -m common.main --config=configs/common/toy.py[:smoke] --workdir=DIR [--config.a.b=value ...]
    [--allow_config_change=total_steps,...]
"""

from common import cli

cli.define_train_flags()

if __name__ == "__main__":
  cli.run(cli.train_main)
