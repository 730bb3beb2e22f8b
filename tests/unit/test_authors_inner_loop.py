"""The EntRGi inner loop against a direct rewrite of the authors' (``main_expts/entrgi.py``
``optimize_logits``): autograd through e_hat = e_soft + sg(w (e_hard - e_soft)) and ``torch.optim.Adam``
on phi, M steps, with the same hard samples. The project's hand-written backward and RowAdam must agree."""

import pytest
import torch
from fakes import LinearReward, linear_step

from entrgi.engine import rng
from entrgi.engine.guidance import GradientGuidance, RelaxedReward, normalized_entropy
from entrgi.engine.positions import StepPositions
from entrgi.engine.rng import DRAW_GUIDANCE, draw_id
from entrgi.engine.schedule import TokenSampler

TAU, M, ETA = 0.7, 3, 0.5


class TanhReward(LinearReward):
    """A nonlinear reward of embeddings: sum over attended positions of tanh(<e, direction>)."""

    def score_embeds(self, ctx, response_embeds, response_mask):
        self.calls += 1
        return (torch.tanh(response_embeds @ self.direction) * response_mask).sum(-1)


def _authors(logits, tokens, masked, obj, sampler, at, weight):
    phi = logits.clone().requires_grad_(True)
    opt = torch.optim.Adam([phi], lr=ETA)
    full = StepPositions.every(at.index, at.keys, masked)
    for m in range(M):
        opt.zero_grad()
        u = full.uniform(draw_id(at.index, DRAW_GUIDANCE, m))
        hard = sampler.draw(sampler.log_probs(phi.detach()), u)  # top-p filtered draw, resampled each step
        w = {"zero": 0.0, "one": 1.0, "entropy": normalized_entropy(phi.detach())}[weight]
        w = torch.as_tensor(w, dtype=phi.dtype).expand(masked.shape)
        soft = torch.softmax(phi / TAU, -1) @ obj.bridge
        e_hat = soft + (w[..., None] * (obj.bridge[hard] - soft)).detach()
        inputs = torch.where(masked[..., None], e_hat, obj.bridge[tokens])
        current = torch.where(masked, phi.argmax(-1), tokens)
        (-obj.score(inputs, current).sum()).backward()
        opt.step()
    return phi.detach()


@pytest.mark.parametrize("weight", ["zero", "one", "entropy"])
@pytest.mark.parametrize("path", ["every", "masked", "chunked"])
def test_phi_after_m_steps_equals_autograd_and_torch_adam(weight, path):
    logits, tokens, masked, lin = linear_step(n=3, length=6, vocab=13)
    masked[:] = False
    masked[:, [0, 2, 3]] = True  # the same count per row, as under a confidence algorithm
    obj = RelaxedReward(TanhReward(lin.bridge.shape[1]), lin.bridge, None, lin.stop_ids)
    sampler = TokenSampler(temperature=TAU, top_p=0.9)
    keys = rng.trajectory_keys(0, torch.arange(3), 1)
    if path == "masked":
        at = StepPositions.masked(4, keys, masked, 3, 1)
    else:
        at = StepPositions.every(4, keys, masked, 1 if path == "chunked" else 2**20)
    # fp32=False keeps phi in the logits dtype (float64 here), as the reference
    guide = GradientGuidance(weight=weight, inner_steps=M, lr=ETA, fp32=False, track_final_reward=False)
    phi, _ = guide.optimize(at.gather(logits).clone(), tokens, obj, sampler, at)
    ref = _authors(logits, tokens, masked, obj, sampler, at, weight)
    # Adam divides by sqrt(v) + 1e-8: float64 rounding of gradients near 1e-8 shows as about 1e-8 in phi
    torch.testing.assert_close(phi, at.gather(ref), atol=1e-6, rtol=1e-6)
    assert (at.gather(ref) - at.gather(logits)).abs().max() > 1e-3  # phi moved
