"""X-BDCNN on ChestX-ray8 (a folder of PNGs; split by image 7:2:1), 128x128 patches, the paper's widths.

Run: python -m xbdcnn.main train --config=configs/xbdcnn/chestxray8.py --config.data.root=DIR --workdir=W
"""

from configs.xbdcnn import bundled


def get_config(arg=None):
  a = bundled.parse(arg)
  c = bundled.base_config(a)
  c.data.name = "folder"
  c.data.root = "/path/to/chestxray8/images"
  if a.smoke:
    return c
  c.data.patch = 128
  # the paper: 320,000 patches split 7:2:1, so 224,000 for training; 40 epochs, lr 1e-3 then 1e-4 after
  # epoch 20 (the piecewise schedule at 0.5). Its batch size is not stated: 32 here.
  c.data.num_train_patches = 224_000
  c.data.num_val_patches = 512
  c.model.widths = (64, 128, 256)
  c.model.nle_width = (
    32  # the paper: 5 convs of 32 channels (the embedded config uses 16 for CPU speed)
  )
  c.model.dncnn_width = 64
  c.model.dncnn_bn = True
  c.batch_size = 32
  c.epochs = 40
  c.total_steps = c.epochs * c.data.num_train_patches // c.batch_size  # 280,000
  c.log_every, c.ckpt_every, c.eval_every, c.figure_every = 200, 5000, 5000, 20000
  return c
