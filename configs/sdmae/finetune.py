"""End-to-end fine-tuning (SD-MAE code's run_class_finetuning.py: lr 1e-3, layer decay 0.75, AdamW
wd 0.05, drop path 0.1, mixup 0.8, cutmix 1.0, label smoothing 0.1, 100 epochs, 5 warm-up), from the
encoder of ``init.workdir``; with ``init.workdir`` empty it is the supervised ViT-S baseline. Run three
seeds (``seed=0|1|2``) for the mean +- std of Table 1.

  python -m sdmae.main --config=configs/sdmae/finetune.py:nct,seed=1 --config.init.workdir=runs/sdmae_nct \
      --config.data.data_dir=/data/nct --workdir=runs/sdmae_nct_ft1
"""


from configs.sdmae import pretrain as _pre


def get_config(arg=None):
  a = _pre.parse(arg)
  c = _pre.base(a, "finetune")
  ds = a.dataset
  small = ds in ("embedded", "ihc")
  n_train = _pre.DATASETS[ds][3]
  c.layer_decay = 0.75
  c.model.drop_path = 0.1
  c.loss.label_smoothing = 0.1
  c.loss.mixup, c.loss.cutmix = (0.0, 0.0) if small else (0.8, 1.0)
  if not a.smoke:
    c.total_steps = 300 if small else 100 * n_train // c.batch_size
    c.optim.lr = 1e-3 if not small else 2e-3
    c.optim.warmup_steps = c.total_steps // 20
  c.log_every, c.eval_every = max(c.total_steps // 20, 1), max(c.total_steps // 3, 1)
  c.ckpt_every, c.figure_every = c.total_steps, 0
  return c
