"""The post-training LightningModule: each ``training_step`` generates with the guided denoiser (no
gradient, the dLLM in eval mode), weighs the completions by the objective and returns the loss of
their estimated log-likelihoods (LoRA weights only, the dLLM in train mode).

Step s generates with seed ``step_seed(seed, s)``: exactly what ``python -m entrgi.run
seed=<step_seed(seed, s)>`` draws for those prompts with the same weights. Every random draw of the
estimators is keyed by the same (seed, sample, trajectory) keys, so a step's loss does not depend
on how its prompts are split over processes: with ``objective.reduction=mean`` (per-process mean,
DDP averages the gradients) 2 processes take the step 1 process takes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
from lightning import LightningModule
from torch.utils.data import DataLoader

from entrgi.engine import rng
from entrgi.engine.denoiser import GenerationOutput, GuidedDenoiser
from entrgi.engine.models.usage import matmul_params
from entrgi.engine.posttrain import Completions, LogLikEstimator, Objective, through_first_stop
from entrgi.engine.types import PromptItem
from entrgi.outputs.compute import compute_summary
from entrgi.outputs.posttrain import append_history, append_samples
from entrgi.pipeline.posttrain.data import StepBatches
from entrgi.pipeline.posttrain.evaluation import add_sums, means, score_batch, zero_sums

log = logging.getLogger(__name__)

LR_SCHEDULES = ("linear", "constant")
_SEED_STRIDE = 1_000_003  # step seeds of different run seeds do not meet for a million steps


def step_seed(seed: int, step: int) -> int:
    """The generation seed of optimizer step ``step`` of a run seeded ``seed``."""
    return int(seed) * _SEED_STRIDE + int(step)


def _as_is(batch: list[PromptItem]) -> list[PromptItem]:
    return batch


class PostTrainModule(LightningModule):
    """See the module docstring. ``evaluator``: an unguided ``GuidedDenoiser`` over the same dLLM
    (eval seed fixed) run on ``heldout`` every ``val_every`` steps and at the end; ``judge`` scores it."""

    def __init__(
        self,
        *,
        denoiser: GuidedDenoiser,
        objective: Objective,
        estimator: LogLikEstimator,
        train_items: list[PromptItem],
        batch_size: int,
        lr: float,
        weight_decay: float = 0.0,
        lr_schedule: str = "linear",
        max_steps: int | None = None,
        seed: int = 0,
        output_dir: str | Path | None = None,
        evaluator: GuidedDenoiser | None = None,
        judge=None,
        heldout: list[PromptItem] | None = None,
        val_every: int = 0,
        eval_batch_size: int = 4,
    ):
        super().__init__()
        self.denoiser, self.objective, self.estimator = denoiser, objective, estimator
        self.dllm = denoiser.lm.model  # the LoRA-wrapped dLLM: its adapter is what trains
        self.reward_model = denoiser.reward.model
        self.train_items, self.batch_size = train_items, batch_size
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"posttrain.lr_schedule={lr_schedule!r}; choose one of {list(LR_SCHEDULES)}")
        if lr_schedule == "linear" and not max_steps:
            raise ValueError("posttrain.lr_schedule=linear decays over posttrain.max_steps; set it")
        self.lr, self.weight_decay, self.seed = lr, weight_decay, int(seed)
        self.lr_schedule, self.max_steps = lr_schedule, max_steps
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.evaluator, self.judge, self.heldout = evaluator, judge, heldout or []
        self.val_every, self.eval_batch_size = int(val_every), int(eval_batch_size)
        self.strict_loading = False  # checkpoints hold the trainable weights only
        self.evaluations: list[dict[str, Any]] = []  # every evaluation of this invocation (rank 0: the global means)
        self.gen_flops = 0.0  # generation FLOPs of this invocation, all ranks
        self._params = (matmul_params(denoiser.lm.model), matmul_params(denoiser.reward.model))
        self._clock = time.perf_counter()

    # --- Lightning plumbing -------------------------------------------------------------------
    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # prompts stay on the host; the denoiser tokenizes onto the model's device

    def train_dataloader(self) -> DataLoader:
        """Steps from the restored ``global_step`` on (a resumed run continues the same prompt stream)."""
        data = StepBatches(
            self.train_items,
            batch_size=self.batch_size,
            seed=self.seed,
            start=self.trainer.global_step,
            rank=self.global_rank,
            world=self.trainer.world_size,
        )
        return DataLoader(data, batch_size=None, collate_fn=_as_is)

    def configure_optimizers(self):
        """AdamW on the trainable (LoRA) weights; ``linear``: the rate decays to 0 at ``max_steps``
        (transformers' default schedule, which the authors' trainer runs), ``constant``: it stays."""
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.lr_schedule == "constant":
            return optimizer
        total = int(self.max_steps)
        decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, (total - step) / total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": decay, "interval": "step"}}

    def trainable_state_keys(self) -> set[str]:
        return {name for name, p in self.named_parameters() if p.requires_grad}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        keep = self.trainable_state_keys()
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}

    # --- one step -------------------------------------------------------------------------------
    def generate(self, items: list[PromptItem], step: int) -> GenerationOutput:
        """Guided generation of step ``step``: models in eval mode, no gradient."""
        self.dllm.eval()
        self.reward_model.eval()
        self.denoiser.seed = step_seed(self.seed, step)
        return self.denoiser.generate(items)

    def completions(self, items: list[PromptItem], out: GenerationOutput, step: int) -> Completions:
        """The B*K completions of ``out`` (sample-major) laid out for the estimator."""
        lm, k = self.denoiser.lm, self.denoiser.k
        dev = lm.device
        length = out.tokens.shape[-1]
        enc = lm.encode([it.messages() for it in items], length, [it.sample_id for it in items])
        prompt = enc.tokens[:, : enc.prompt_len].repeat_interleave(k, dim=0)
        attention = enc.attention_mask[:, : enc.prompt_len].repeat_interleave(k, dim=0)
        response = out.tokens.reshape(-1, length).to(dev)
        hashes = torch.tensor([rng.stable_id_hash(it.sample_id) for it in items], dtype=torch.int64, device=dev)
        keys = rng.trajectory_keys(step_seed(self.seed, step), hashes, k)
        stops = torch.tensor(lm.stop_token_ids, device=dev)
        return Completions(
            torch.cat([prompt, response], dim=1), attention, enc.prompt_len, through_first_stop(response, stops), keys
        )

    def training_step(self, batch: list[PromptItem], batch_idx: int) -> torch.Tensor:
        step = self.global_step
        if self.val_every and step % self.val_every == 0:
            self.evaluate(step)
        out = self.generate(batch, step)
        b, k = out.rewards.shape
        rewards = out.rewards.to(self.device, torch.float32)
        weights = self.objective.weights(rewards)  # [B, K]
        every = self.completions(batch, out, step)
        rows = self.objective.trains_on(weights).flatten().nonzero().flatten()
        row_weights = weights.flatten()[rows]
        if rows.numel() == 0:  # nothing to learn (equal rewards): a zero loss that still reaches every weight
            rows, row_weights = torch.zeros(1, dtype=torch.long, device=self.device), weights.new_zeros(1)
        self.dllm.train()
        seq_logps = self.estimator.sequence_logps(self.denoiser.lm, every.rows(rows))
        loss = self.objective.loss(seq_logps, row_weights, b)
        self._record(step, batch, out, weights, every, loss.detach(), int(rows.numel()))
        return loss

    # --- what a step reports ----------------------------------------------------------------------
    def _global_sum(self, values: dict[str, float]) -> dict[str, float]:
        """Named sums over every rank (one all-gather), by the same names."""
        names = list(values)
        vec = torch.tensor([float(values[k]) for k in names], dtype=torch.float64, device=self.device)
        if self.trainer.world_size > 1:
            vec = self.all_gather(vec).reshape(-1, len(names)).sum(0)
        return dict(zip(names, vec.cpu().tolist(), strict=True))

    def _record(self, step, batch, out, weights, every, loss, trained) -> None:
        r = out.rewards.double()
        w = out.trace.get("w_mean")
        w_valid = w[~torch.isnan(w)] if w is not None else torch.empty(0)
        flops = compute_summary(out.counters, *self._params, len(batch))["flops"]
        lengths = every.mask.sum(-1).double()
        s = self._global_sum(
            {
                "loss": float(loss) * (1 if self.objective.reduction == "sum" else len(batch)),
                "reward": float(r.sum()),
                "reward_sq": float((r * r).sum()),
                "responses": float(r.numel()),
                "w": float(w_valid.double().sum()),
                "w_count": float(w_valid.numel()),
                "length": float(lengths.sum()),
                "flops": float(flops),
                "trained": float(trained),
                "prompts": float(len(batch)),
            }
        )
        n = s["responses"]
        mean = s["reward"] / n
        row = {
            "kind": "step",
            "step": step,
            "loss": s["loss"] / s["prompts"] if self.objective.reduction == "mean" else s["loss"],
            "reward_mean": mean,
            "reward_std": max(s["reward_sq"] / n - mean * mean, 0.0) ** 0.5,
            "w_mean": s["w"] / s["w_count"] if s["w_count"] else None,
            "length_mean": s["length"] / n,
            "gen_flops": s["flops"],
            "trained": int(s["trained"]),
            "wall_s": time.perf_counter() - self._clock,
        }
        self.gen_flops += row["gen_flops"]
        self.log("loss", row["loss"], prog_bar=True, batch_size=len(batch), rank_zero_only=True)
        self.log("reward", mean, prog_bar=True, batch_size=len(batch), rank_zero_only=True)
        if self.evaluations:  # the last held-out evaluation, in the progress bar
            last = self.evaluations[-1]["reward_top1"]
            self.log("heldout", last, prog_bar=True, logger=False, batch_size=len(batch), rank_zero_only=True)
        if self.trainer.is_global_zero:
            if self.logger is not None:
                metrics = {f"train/{key}": v for key, v in row.items() if key not in ("kind", "step") and v is not None}
                self.logger.log_metrics(metrics, step=step)
            if self.output_dir is not None:
                append_history(self.output_dir, [row])
        if self.output_dir is not None:
            append_samples(self.output_dir, self.global_rank, self._sample_rows(step, batch, out, weights))

    def _sample_rows(self, step, batch, out, weights) -> list[dict[str, Any]]:
        w = weights.cpu()
        return [
            {
                "step": step,
                "seed": step_seed(self.seed, step),
                "sample_id": it.sample_id,
                "messages": it.messages(),
                "responses": out.responses[i],
                "rewards": [float(x) for x in out.rewards[i]],
                "weights": [float(x) for x in w[i]],
            }
            for i, it in enumerate(batch)
        ]

    # --- held-out evaluation -------------------------------------------------------------------------
    def evaluate(self, step: int) -> dict[str, Any] | None:
        """Unguided generation on this rank's share of the held-out prompts, summed over ranks."""
        if self.evaluator is None or not self.heldout:
            return None
        self.dllm.eval()
        self.reward_model.eval()
        mine = self.heldout[self.global_rank :: self.trainer.world_size]
        total = zero_sums()
        for i in range(0, len(mine), self.eval_batch_size):
            total = add_sums(total, score_batch(self.evaluator, self.judge, mine[i : i + self.eval_batch_size]))
        total = self._global_sum(total)
        row = {"kind": "eval", "step": step} | means(total)
        self.evaluations.append(row)
        if self.trainer.is_global_zero:
            log.info(
                "step %d, held-out unguided: reward K=1 %.4f, Top@1 K=%d %.4f; judge K=1 %s, Top@1 %s",
                step,
                row["reward_k1"],
                self.evaluator.k,
                row["reward_top1"],
                _fmt(row["judge_k1"]),
                _fmt(row["judge_top1"]),
            )
            if self.logger is not None:
                metrics = {f"eval/{k}": v for k, v in row.items() if k not in ("kind", "step") and v is not None}
                self.logger.log_metrics(metrics, step=step)
            if self.output_dir is not None:
                append_history(self.output_dir, [row])
        return row

    def on_train_end(self) -> None:
        last = self.evaluations[-1]["step"] if self.evaluations else None
        if self.val_every and last != self.global_step:
            self.evaluate(self.global_step)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
