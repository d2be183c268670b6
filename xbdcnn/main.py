"""X-BDCNN entry point.

  python -m xbdcnn.main train --config=configs/xbdcnn/bundled.py[:variant] --workdir=DIR
  python -m xbdcnn.main denoise IN --out=OUT [--checkpoint=WORKDIR] [--tile=512]

``denoise`` accepts DICOM (by content, whatever the name; written as a derived DICOM image of the same
study, frame by frame), 8- and 16-bit PNG/TIFF (or float TIFF) grey-scale images of any size (written
in the same dtype), or a folder of them (OUT is then a folder, one output per input under the same
name); float images with NaN/inf are refused (a convolution would spread each one over the receptive
field).
"""

from absl import flags

from common import cli
from common.errors import UserError

cli.define_train_flags()
flags.DEFINE_string(
  "checkpoint",
  None,
  "denoise: the --workdir of a finished 'train' run (default: the "
  "model that ships with xbdcnn, xbdcnn/model)",
)
flags.DEFINE_string(
  "out", None, "denoise: output file (.dcm for DICOM, .png or .tif), or a folder for a folder"
)
flags.DEFINE_integer("tile", 512, "denoise: tile size for large images", lower_bound=16)


def main(argv) -> int:
  if len(argv) < 2 or argv[1] not in ("train", "denoise"):
    raise UserError("give a command: train or denoise (see --help)")
  if argv[1] == "train":
    cli.check_only_flags(("config", "workdir", "allow_config_change"), "train")
    return cli.train_main(argv[1:])
  cli.check_only_flags(("checkpoint", "out", "tile"), "denoise")
  FLAGS = flags.FLAGS
  if len(argv) != 3:
    raise UserError("usage: python -m xbdcnn.main denoise IN --out=OUT [--checkpoint=WORKDIR]")
  if not FLAGS.out:
    raise UserError("denoise needs --out=FILE (or a folder for a folder of inputs)")
  from xbdcnn.denoise import denoise_file

  print(denoise_file(argv[2], FLAGS.checkpoint, FLAGS.out, FLAGS.tile))
  return 0


if __name__ == "__main__":
  cli.run(main)
