import pytest
import tiny_models
import torch
from fakes import linear_step

from entrgi.engine import rng
from entrgi.engine.guidance import GradientGuidance, NoGuidance, RelaxedReward, normalized_entropy, parse_weight
from entrgi.engine.guidance.weights import ConstantWeight, PowerWeight, ThresholdWeight
from entrgi.engine.models import SequenceClassifierReward, build_vocab_bridge
from entrgi.engine.positions import StepPositions
from entrgi.engine.schedule import TokenSampler


class _RecordingAdam:
    """Stands in for the optimizer: records the gradient rows ``ascend`` hands it."""

    def __init__(self, shape, dtype):
        self.grad = torch.full(shape, float("nan"), dtype=dtype)

    def begin_step(self):
        pass

    def update(self, rows, grad):
        self.grad[rows] = grad


def phi_gradient(guide, phi, grad_embeds, obj, sampler, at):
    """The d loss / d phi [N, G, V] that GradientGuidance feeds Adam, for a given d loss / d embeds."""
    adam = _RecordingAdam((phi.shape[0] * phi.shape[1], phi.shape[2]), phi.dtype)
    guide.ascend(phi, grad_embeds, obj, sampler, at, adam, at.active)
    return adam.grad.view(phi.shape)


@pytest.mark.parametrize("w", [0.0, 1.0])
@pytest.mark.parametrize("chunk_bytes", [1, 2**20])
def test_relaxed_embedding_values_and_gradients(w, chunk_bytes):
    """e_hat's values, and the hand-written backward to phi equals autograd through the soft path."""
    logits, tokens, masked, obj = linear_step()
    sampler = TokenSampler(temperature=0.7, top_p=0.9)
    guide = GradientGuidance(weight=w)
    keys = rng.trajectory_keys(0, torch.arange(2), 1)
    at = StepPositions.every(0, keys, masked, chunk_bytes)
    embeds, current, wt, _ = guide.relaxed_input(logits, tokens, obj, sampler, at, draw=5)
    assert torch.all(wt == w)
    u = rng.uniform(keys, 5, logits.shape[1])
    soft = obj.soft(torch.softmax(logits / 0.7, -1))
    hard_tokens = sampler.draw(sampler.log_probs(logits), u)
    expected_masked = soft if w == 0 else obj.hard(hard_tokens)
    expected = torch.where(masked[..., None], expected_masked, obj.hard(tokens))
    torch.testing.assert_close(embeds, expected)
    assert torch.equal(current, torch.where(masked, logits.argmax(-1), tokens))
    # reference: autograd through e_hat = e_soft + sg(w (e_hard - e_soft)) at masked positions
    phi = logits.clone().requires_grad_(True)
    s = obj.soft(torch.softmax(phi / 0.7, -1))
    e_hat = s + (w * (obj.hard(hard_tokens) - s)).detach()
    ref_embeds = torch.where(masked[..., None], e_hat, obj.hard(tokens))
    direction = torch.randn(ref_embeds.shape, dtype=ref_embeds.dtype)
    (g_ref,) = torch.autograd.grad((ref_embeds * direction).sum(), phi)
    g = phi_gradient(guide, logits.clone(), direction, obj, sampler, at)
    torch.testing.assert_close(g, g_ref)
    assert g[~masked].abs().max() == 0 and g[masked].abs().sum() > 0


def test_gathered_positions_give_the_gradient_of_every_position():
    logits, tokens, masked, obj = linear_step(n=3, length=6)
    masked[:] = False
    masked[:, [0, 2, 5]] = True  # three masked positions in every row
    sampler = TokenSampler(temperature=0.7, top_p=0.9)
    guide = GradientGuidance(weight="entropy")
    keys = rng.trajectory_keys(1, torch.arange(3), 1)
    every = StepPositions.every(2, keys, masked)
    gathered = StepPositions.masked(2, keys, masked, 3, 1)
    assert gathered.positions.tolist() == [[0, 2, 5]] * 3
    e1, c1, w1, _ = guide.relaxed_input(logits, tokens, obj, sampler, every, draw=9)
    e2, c2, w2, _ = guide.relaxed_input(gathered.gather(logits), tokens, obj, sampler, gathered, draw=9)
    torch.testing.assert_close(e1, e2)
    assert torch.equal(c1, c2) and torch.equal(w1[masked].view(3, 3), w2)
    direction = torch.randn(e1.shape, dtype=e1.dtype)
    g1 = phi_gradient(guide, logits.clone(), direction, obj, sampler, every)
    g2 = phi_gradient(guide, gathered.gather(logits), direction, obj, sampler, gathered)
    torch.testing.assert_close(gathered.gather(g1), g2)


def test_entropy_weight_in_unit_interval():
    g = torch.Generator().manual_seed(1)
    phi = torch.randn(4, 7, 50, generator=g) * torch.tensor([0.01, 1.0, 10.0, 100.0])[:, None, None]
    h = normalized_entropy(phi)
    assert h.min() >= 0 and h.max() <= 1 + 1e-6
    assert h[0].min() > 0.99 and h[3].max() < 0.2  # flat -> ~1, peaked -> ~0
    sampler = TokenSampler(0.7, top_p=0.9)
    hs = normalized_entropy(phi, "log_support", sampler.log_probs(phi))
    assert hs.min() >= 0 and hs.max() <= 1


def test_weight_policies():
    h = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert parse_weight("zero")(h).tolist() == [0, 0, 0, 0]
    assert parse_weight("one")(h).tolist() == [1, 1, 1, 1]
    assert parse_weight("entropy")(h).tolist() == h.tolist()
    assert parse_weight("one_minus_entropy")(h).tolist() == [1, 0.75, 0.5, 0]
    assert parse_weight("constant:0.3")(h).tolist() == pytest.approx([0.3] * 4)
    assert isinstance(parse_weight(0.3), ConstantWeight)
    assert parse_weight("threshold:0.5")(h).tolist() == [0, 0, 1, 1]
    assert isinstance(parse_weight("threshold"), ThresholdWeight)
    assert parse_weight("power:2")(h).tolist() == [0, 0.0625, 0.25, 1]
    assert isinstance(parse_weight("power"), PowerWeight)
    for bad in ["entropi", "constant", "constant:x", "constant:2", "threshold:-1"]:
        with pytest.raises(ValueError, match="guidance.weight"):
            parse_weight(bad)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"inner_steps": 0}, "guidance.inner_steps"),
        ({"inner_steps": -1}, "guidance.inner_steps"),
        ({"lr": 0.0}, "guidance.lr"),
        ({"lr": -0.5}, "guidance.lr"),
        ({"weight": "softmax"}, "guidance.weight"),
        ({"normalization": "log2"}, "guidance.normalization"),
        ({"every": 0}, "guidance.every"),
        ({"every": True}, "guidance.every"),
        ({"until": 0.0}, "guidance.until"),
        ({"until": 1.5}, "guidance.until"),
        ({"min_entropy": -0.1}, "guidance.min_entropy"),
        ({"min_entropy": 2}, "guidance.min_entropy"),
    ],
)
def test_bad_guidance_values_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        GradientGuidance(**kwargs)


def _rmsnorm_in_input_dtype(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def test_expectation_gradient_matches_finite_differences(tiny_dir, monkeypatch):
    """d reward / d phi of the Expectation relaxation through a real Qwen3 reward, float64."""
    # Qwen3's RMSNorm upcasts to float32 only; keep float64 so differences are not rounding noise.
    from transformers.models.qwen3 import modeling_qwen3

    monkeypatch.setattr(modeling_qwen3.Qwen3RMSNorm, "forward", _rmsnorm_in_input_dtype)
    reward = SequenceClassifierReward.from_pretrained(str(tiny_dir["reward"]), dtype="float64", device="cpu")
    dtok = tiny_models.dllm_tokenizer()
    bridge = build_vocab_bridge(dtok, reward.tokenizer, reward.embedding_matrix).matrix
    msgs = [[{"role": "user", "content": "the cat"}], [{"role": "user", "content": "a good dog eat"}]]
    obj = RelaxedReward(reward, bridge, reward.context(msgs), torch.tensor([dtok.eos_token_id]))
    g = torch.Generator().manual_seed(0)
    n, length, vocab = 2, 3, len(dtok)
    tokens = torch.tensor(dtok.convert_tokens_to_ids(["cat", "good", "dog"])).expand(n, -1).clone()
    masked = torch.tensor([[True, False, True], [False, True, True]])
    guide = GradientGuidance(weight="zero")
    sampler = TokenSampler(temperature=0.7, top_p=0.95)
    at = StepPositions.every(0, rng.trajectory_keys(0, torch.arange(n), 1), masked)

    # a fixed "current" token layout with no stop token, so the attention mask is constant
    def f(phi):
        embeds, _, _, _ = guide.relaxed_input(phi, tokens, obj, sampler, at, draw=0)
        return obj.score(embeds, tokens)

    phi = torch.randn(n, length, vocab, generator=g, dtype=torch.float64)
    embeds, _, _, _ = guide.relaxed_input(phi, tokens, obj, sampler, at, draw=0)
    embeds.requires_grad_(True)
    (grad_embeds,) = torch.autograd.grad(obj.score(embeds, tokens).sum(), embeds)
    grad = phi_gradient(guide, phi, grad_embeds, obj, sampler, at)
    assert grad[~masked].abs().max() == 0 and grad[masked].abs().max() > 1e-3
    eps = 1e-5  # directional central differences
    with torch.no_grad():
        for _ in range(6):
            d = torch.randn(phi.shape, generator=g, dtype=torch.float64) * masked[..., None]
            numeric = (f(phi + eps * d).sum() - f(phi - eps * d).sum()) / (2 * eps)
            analytic = (grad * d).sum()
            assert abs(numeric - analytic) <= 1e-6 * abs(analytic) + 1e-9, (numeric, analytic)


def test_optimizer_raises_soft_reward_and_reports_stats():
    logits, tokens, masked, obj = linear_step(n=3, length=6)
    sampler = TokenSampler(temperature=1.0)
    keys = rng.trajectory_keys(0, torch.arange(3), 1)
    # Expectation's soft reward is deterministic, so a few small Adam steps must raise it
    at = StepPositions.every(0, keys, masked)
    _, stats = GradientGuidance(weight="zero", inner_steps=5, lr=0.1).optimize(logits.float(), tokens, obj, sampler, at)
    assert (stats["reward_soft_after"] > stats["reward_soft_before"] + 0.1).all()
    guide = GradientGuidance(weight="entropy", inner_steps=5, lr=0.3)
    phi, stats = guide.optimize(logits.float(), tokens, obj, sampler, at)
    assert phi.dtype == torch.float32
    # unmasked positions keep their logits exactly
    torch.testing.assert_close(phi[~masked], logits.float()[~masked])
    assert ((stats["w_min"] <= stats["w_mean"]) & (stats["w_mean"] <= stats["w_max"])).all()
    assert 0.3 < stats["w_mean"].min() and stats["w_max"].max() <= 1.0  # random logits: high entropy
    assert set(stats) == {"w_mean", "w_min", "w_max", "reward_soft_before", "reward_soft_after", "guided", "faults"}
    assert stats["guided"].tolist() == [1.0] * 3 and stats["faults"].tolist() == [0.0] * 3
    same, none = NoGuidance().optimize(logits, tokens, None, sampler, at)
    assert same is logits and none == {}


def test_sync_free_adam_matches_torch_adam():
    from entrgi.engine.guidance.adam import RowAdam

    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 4, generator=g, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    ours, ref = RowAdam(a.detach(), lr=0.5), torch.optim.Adam([b], lr=0.5)
    for _ in range(4):
        grad = torch.randn(3, 4, generator=g)
        ours.begin_step()
        ours.update(slice(0, 2), grad[:2])  # row chunks
        ours.update(slice(2, 3), grad[2:])
        b.grad = grad.clone()
        ref.step()
    torch.testing.assert_close(a.detach(), b.detach())


def test_name_says_the_hyper_parameters_and_method_stays_the_short_label():
    """``name``: M and eta always, every other knob that changes generations when off its default;
    ``method`` (what records and the report group by) keeps the short label."""
    assert (GradientGuidance().name, GradientGuidance().method) == ("entrgi(M=3,eta=0.5)", "entrgi")
    aps = GradientGuidance(weight="one", inner_steps=1, lr=0.1, normalization="log_support", every=2, until=0.5)
    assert aps.name == "aps(M=1,eta=0.1,norm=log_support,every=2,until=0.5)" and aps.method == "aps"
    ablation = GradientGuidance(weight="constant:0.5", fp32=False, min_entropy=0.25)
    assert ablation.name == "w=constant:0.5(M=3,eta=0.5,fp32=false,min_entropy=0.25)"
    assert ablation.method == "w=constant:0.5"
    assert GradientGuidance(track_final_reward=False).name == GradientGuidance().name  # trace only
    assert GradientGuidance(weight="zero", lr=1e-3).name == "expectation(M=3,eta=0.001)"
    assert NoGuidance().name == NoGuidance().method == "bon"
