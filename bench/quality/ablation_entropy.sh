#!/usr/bin/env bash
# The weight-policy ablation on the testbed, as README reports it: the experiment's own 18-job sweep
# (6 policies x seeds 1, 2, 3, default 16 testbed prompts x K=4), then `python -m entrgi.report`.
# Writes bench/quality/ablation_entropy.{md,csv}, ablation_entropy_paired.csv, docs/images/ablation_entropy.png and
# the report's first screen into docs/results.md; the runs go to $1 (default multirun/ablation_entropy).
#   bash bench/quality/ablation_entropy.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
sweep=${1:-multirun/ablation_entropy}
. bench/quality/_sweep.sh
require_empty_sweep_dir "$sweep"
start=$(date +%s)
WANDB_MODE=disabled python -m entrgi.run +experiment=ablation_entropy logger=none save_entropy_maps=false \
  "hydra.sweep.dir=$sweep"
python -m entrgi.report "$sweep" --no-wandb
{
  echo "\`bash bench/quality/ablation_entropy.sh\`: \`python -m entrgi.run +experiment=ablation_entropy\`"
  echo "(6 weight policies x seeds 1, 2, 3; 16 testbed prompts x K=4, T=48, M=3, eta=0.5), tabulated by"
  echo "\`python -m entrgi.report\`. Mean ± SEM over seeds. Sweep wall time $(( ($(date +%s) - start) / 60 )) min on $(nproc) CPU cores."
  echo
  cat "$sweep/report.md"
} > bench/quality/ablation_entropy.md
cp "$sweep/report.csv" bench/quality/ablation_entropy.csv
cp "$sweep/paired.csv" bench/quality/ablation_entropy_paired.csv
cp "$sweep/plots/frontier.png" docs/images/ablation_entropy.png   # equal costs: the ranked dot plot
python bench/quality/include.py   # README / docs show this report's first screen
cat bench/quality/ablation_entropy.md
