"""Count host reads (.item / .tolist / bool / int / float / nonzero) made by entrgi's own code, for the
no-host-sync tests of the denoising loop (imported by tests/unit/test_denoiser.py, test_particles.py)."""

import sys

import torch

READS = ["item", "tolist", "__bool__", "__int__", "__float__", "nonzero"]


def count_host_reads(monkeypatch) -> dict[str, int]:
    """Patch torch.Tensor so that reads called from files under /entrgi/ are counted into the returned
    dict (clear it between runs); on the CUDA code path (top-p by bisection) for ``top_p.auto_method``."""
    from entrgi.engine.schedule import top_p

    counts: dict[str, int] = {}

    def counting(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *a, **kw):
            if "/entrgi/" in sys._getframe(1).f_code.co_filename:
                counts[name] = counts.get(name, 0) + 1
            return original(self, *a, **kw)

        return wrapper

    monkeypatch.setattr(top_p, "auto_method", lambda device: "threshold")
    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    return counts
