"""sdmae.study: the run plan (Table 1 x seeds, Fig. 2 ratios) and the paired SD-MAE - MAE statistics."""

from scipy import stats

from sdmae import study


def test_plan_trains_every_row_per_seed_and_the_mask_curve_on_the_first_set():
  runs = study.plan(
    "/o", ["embedded", "ihc"], [0, 1, 2], 300, 150, [0.4, 0.6, 0.75, 0.9], fig2_seeds=3
  )
  # per (set, seed): 3 pre-trainings, 3 fine-tunes, 3 probes, 1 supervised; + 3 ratios x (pre-train, fine-tune)
  # for every Fig. 2 seed on the first set (0.6 is the Table 1 run)
  assert len(runs) == 2 * 3 * 10 + 3 * 3 * 2
  assert (
    len(study.plan("/o", ["embedded", "ihc"], [0, 1, 2], 300, 150, [0.4, 0.6, 0.75, 0.9]))
    == 60 + 3 * 2
  )
  assert [wd.split("/")[3] for *_, wd in runs[:20]] == [
    "s0"
  ] * 20  # seed by seed: both sets at seed 0 first
  seen = set()
  for label, config, over, wd in runs:
    if config.startswith("pretrain"):
      seen.add(wd)
      assert over["total_steps"] == 300
    else:
      assert over["total_steps"] == 150
      assert (
        over["init.workdir"] == "" or over["init.workdir"] in seen
      )  # pre-trained before it is read
  masks = [c for _, c, _, _ in runs if "mask=" in c]
  assert len(masks) == 9 and all(c.startswith("pretrain.py:embedded,sdmae") for c in masks)
  assert sum("supervised" in wd for *_, wd in runs) == 6
  assert len({wd for *_, wd in runs}) == len(runs)
  # the supervised ViT trains with the fine-tuning recipe without layer decay; the fine-tunes keep it
  from common import config as config_lib
  from tests.common.helpers import ROOT

  decay = {}
  for label, config, over, wd in runs[:10]:
    if config.startswith("finetune"):
      cfg = config_lib.load_config(f"{ROOT}/configs/sdmae/{config}", over)
      decay[label.endswith("supervised")] = cfg.layer_decay
  assert decay == {True: 1.0, False: 0.75}


def test_paired_table_is_scipys_t_test_over_seeds_and_pooled_wilcoxon():
  acc = {
    ("a", 0): (0.90, 0.88),
    ("a", 1): (0.91, 0.90),
    ("a", 2): (0.93, 0.89),
    ("b", 0): (0.80, 0.81),
    ("b", 1): (0.84, 0.80),
    ("b", 2): (0.86, 0.83),
  }
  results = []
  for (ds, s), (sd, mae) in acc.items():
    results += [
      dict(protocol="finetune", row="sdmae", dataset=ds, mask=0.6, seed=s, accuracy=sd),
      dict(protocol="finetune", row="mae", dataset=ds, mask=0.6, seed=s, accuracy=mae),
      dict(protocol="finetune", row="sdmae", dataset=ds, mask=0.9, seed=s, accuracy=0.1),
    ]  # not Table 1
  lines = study.paired(results, "finetune")
  row_a = next(l for l in lines if l.startswith("| a |"))
  p_a = stats.ttest_rel([0.90, 0.91, 0.93], [0.88, 0.90, 0.89]).pvalue
  assert f"{p_a:.3g}" in row_a and "+2.33 ±" in row_a and "3/3" in row_a
  diffs = [100 * (x - y) for x, y in acc.values()]
  p_all = stats.wilcoxon(diffs, method="exact").pvalue
  pooled = next(l for l in lines if l.startswith("| all (n=6)"))
  assert f"Wilcoxon {p_all:.3g}" in pooled and "5/6" in pooled


def test_fig2_keeps_the_ratio_runs_dataset_and_seeds():
  rs = [
    dict(protocol="finetune", row="sdmae", dataset=ds, mask=m, seed=s, accuracy=0.9)
    for ds in ("procedural_he", "ihc")
    for s in (0, 1, 2)
    for m in (0.6,)
  ]
  rs += [
    dict(protocol="finetune", row="sdmae", dataset="procedural_he", mask=m, seed=0, accuracy=0.8)
    for m in (0.4, 0.9)
  ]
  got = study.fig2_results(rs, [0])
  assert sorted((r["mask"], r["seed"]) for r in got) == [(0.4, 0), (0.6, 0), (0.9, 0)]
  assert {r["dataset"] for r in got} == {"procedural_he"}
