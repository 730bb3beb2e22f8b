"""One validator module: every constructor that takes user values refuses bad ones naming the key;
booleans are not numbers."""

import pytest

from entrgi.engine.checks import require_choice, require_optional_positive, require_positive, require_range
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.schedule.sampling import TokenSampler


@pytest.mark.parametrize("value", [True, False, 0, -1, 1.5, "2", None, float("nan")])
def test_require_positive_integer(value):
    with pytest.raises(ValueError, match=r"^k must be a positive integer, got "):
        require_positive(value, "k")


def test_require_helpers_accept_good_values():
    require_positive(3, "k")
    require_positive(0.1, "x", kind=float)
    require_optional_positive(None, "k")
    require_range(1.0, "p", 0.0, 1.0, low_open=True)
    require_choice("a", "c", ["a", "b"])
    with pytest.raises(ValueError, match=r"p must be a number in \(0, 1\], got 0"):
        require_range(0, "p", 0.0, 1.0, low_open=True)
    with pytest.raises(ValueError, match=r"c='z'; choose one of \['a', 'b'\]"):
        require_choice("z", "c", ["a", "b"])


class _LM:  # what GuidedDenoiser reads before it validates
    pass


@pytest.mark.parametrize(
    "build, key",
    [
        (lambda: DenoisingSchedule(steps=True, max_new_tokens=8), "schedule.steps"),
        (lambda: DenoisingSchedule(steps=4, max_new_tokens=True), "schedule.max_new_tokens"),
        (lambda: DenoisingSchedule(steps=4, max_new_tokens=8, eps=True), "schedule.eps"),
        (lambda: DenoisingSchedule(steps=4, max_new_tokens=8, alg_temp=-1), "schedule.alg_temp"),
        (lambda: TokenSampler(top_k=True), "schedule.top_k"),
        (lambda: TokenSampler(top_p=True), "schedule.top_p"),
        (lambda: TokenSampler(temperature=True), "schedule.temperature"),
        (lambda: TokenSampler(temperature=float("inf")), "schedule.temperature"),
        (lambda: GradientGuidance(inner_steps=True), "guidance.inner_steps"),
        (lambda: GradientGuidance(lr=True), "guidance.lr"),
        (lambda: GradientGuidance(until=True), "guidance.until"),
        (lambda: GradientGuidance(normalization="log2"), "guidance.normalization"),
        (
            lambda: GuidedDenoiser(_LM(), None, NoGuidance(), DenoisingSchedule(4, 8), samples_per_prompt=True),
            "samples_per_prompt",
        ),
    ],
)
def test_constructors_refuse_bad_values_naming_the_key(build, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        build()
