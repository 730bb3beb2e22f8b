"""BoN alone, repeated: ``python bench/speed/bon_repeat.py RUN_PY LABEL``.

RUN_PY is a revision's ``bench/speed/run.py`` (its ``build`` / ``make_prompts``: V = 16k, hidden 256,
4 layers); five ``generate()`` calls of 4 prompts x K=4 (T = 32, 32 tokens, top-p 0.95) after one
warm-up, seconds per call. For an older revision run it through ``bench/speed/isolated.py``.
"""

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import torch

spec = importlib.util.spec_from_file_location("bench_speed_run", sys.argv[1])
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
try:  # the layout since issue 18
    from entrgi.engine.denoiser import GuidedDenoiser
    from entrgi.engine.guidance import NoGuidance
    from entrgi.engine.schedule import DenoisingSchedule
except ImportError:  # before it
    from entrgi.denoiser import GuidedDenoiser
    from entrgi.guidance import NoGuidance
    from entrgi.schedule import DenoisingSchedule

torch.manual_seed(0)
lm, reward = bench.build(Path(tempfile.mkdtemp()), 16384, 256, 4)
schedule = DenoisingSchedule(steps=32, max_new_tokens=32, temperature=0.7, top_p=0.95)
den = GuidedDenoiser(lm, reward, NoGuidance(), schedule, samples_per_prompt=4, seed=1)
prompts = bench.make_prompts(4)
den.generate(prompts)  # warm-up
times = []
for _ in range(5):
    start = time.perf_counter()
    den.generate(prompts)
    times.append(time.perf_counter() - start)
print(sys.argv[2], "bon s/call", [round(t, 3) for t in times], "min", round(min(times), 3))
