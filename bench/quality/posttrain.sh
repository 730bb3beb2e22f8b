#!/usr/bin/env bash
# Post-training on the testbed (issue 21): RGRL and reward-weighted on EntRGi-guided completions (K=4)
# against best-of-16 SFT at the same generation FLOPs, 20 steps x 4 prompts, seeds 1, 2, 3
# (python -m entrgi.posttrain +experiment=posttrain_testbed, 9 jobs), twice: with the authors' one-step
# log-likelihood estimator and with the masked-diffusion ELBO (objective.estimator=elbo, one draw: the same
# forwards). The two sweeps run side by side, one CPU thread each. Then each trained
# adapter and the base model generate *with* EntRGi (K=4) on the 16 held-out prompts. Writes
# bench/quality/posttrain.{md,csv} and docs/images/posttrain_curves.png; runs go under $1
# (default multirun/posttrain_testbed).
#   bash bench/quality/posttrain.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:-multirun/posttrain_testbed}
. bench/quality/_sweep.sh
require_empty_sweep_dir "$root"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
sweep() {  # sweep DIR [overrides...]: train the nine jobs, then evaluate each adapter with guidance
  local dir=$1
  shift
  python -m entrgi.posttrain +experiment=posttrain_testbed "hydra.sweep.dir=$dir" logger=none "$@"
  for run in "$dir"/[0-9]*; do
    python -m entrgi.run data=testbed_heldout guidance=entrgi logger=none "model.adapter=$run/adapter" \
      "paths.output_dir=$dir/guided/$(basename "$run")"
  done
}
start=$(date +%s)
python -m entrgi.run data=testbed_heldout guidance=entrgi logger=none "paths.output_dir=$root/guided_base"
sweep "$root/one_step" &
sweep "$root/elbo" objective.estimator=elbo &
wait
minutes=$(( ($(date +%s) - start) / 60 ))
python bench/quality/posttrain_table.py "one-step=$root/one_step" "ELBO=$root/elbo" --base "$root/guided_base" --minutes "$minutes" \
  --md bench/quality/posttrain.md --csv bench/quality/posttrain.csv --plot docs/images/posttrain_curves.png
cat bench/quality/posttrain.md
