#!/usr/bin/env bash
# The compute-quality frontier on the testbed, as README reports it: the experiment's own 45-job
# sweep (BoN K=4, 8, 16, 32; Expectation, APS, EntRGi at K=4; EntRGi every=2 / until=0.5 /
# min_entropy=0.5 at K=4; FK steering particles=fk with BoN K=4, 8, 16 and EntRGi, Expectation
# K=4; seeds 1, 2, 3; 16 testbed prompts), run exactly as a user would (default
# offline W&B logger), then `python -m entrgi.report`. Writes bench/quality/compute_frontier.{md,csv},
# compute_frontier_paired.csv, the figures under docs/images/ and the report's first screen into docs/results.md
# (bench/quality/include.py); the runs go to $1 (default multirun/compute_frontier).
#   bash bench/quality/compute_frontier.sh
# Run it on an otherwise idle machine: the report's wall-time columns are timings.
set -euo pipefail
cd "$(dirname "$0")/../.."
sweep=${1:-multirun/compute_frontier}
. bench/quality/_sweep.sh
require_empty_sweep_dir "$sweep"
start=$(date +%s)
python -m entrgi.run +experiment=compute_frontier "hydra.sweep.dir=$sweep"
minutes=$(( ($(date +%s) - start) / 60 ))
python -m entrgi.report "$sweep" --no-wandb
{
  echo "\`bash bench/quality/compute_frontier.sh\`: \`python -m entrgi.run +experiment=compute_frontier\`"
  echo "(45 jobs on 16 testbed prompts, T=48, M=3, eta=0.5), tabulated by \`python -m entrgi.report\`."
  echo "Mean ± SEM over seeds 1, 2, 3. Sweep wall time ${minutes} min on $(nproc) CPU cores."
  echo
  cat "$sweep/report.md"
} > bench/quality/compute_frontier.md
cp "$sweep/report.csv" bench/quality/compute_frontier.csv
cp "$sweep/paired.csv" bench/quality/compute_frontier_paired.csv
mkdir -p docs/images
cp "$sweep/plots/frontier.png" "$sweep/plots/entropy_w.png" "$sweep/plots/soft_reward.png" "$sweep/plots/denoising.gif" docs/images/
cp "$sweep/plots/ess.png" docs/images/ess_particles.png
python bench/quality/include.py   # README / docs show this report's first screen
cat bench/quality/compute_frontier.md
