"""Time and peak memory of one guided generate() call on CPU at the real vocabulary size.

Shapes: V = 152,053 (Qwen2.5 / Dream's logits width; word-level tokenizers built like run.py's, the
reward's in another order), the project's bidirectional dLLM (``TinyDLMForMaskedDiffusion``) and a
``Qwen3ForSequenceClassification`` reward, both hidden 64, 2 layers, random weights, saved with
``save_pretrained`` and loaded through ``BidirectionalLM`` / ``SequenceClassifierReward.from_pretrained``
(fp32, cpu); 4 prompts x K=4 (N = 16 trajectories) in one batch, L = 128 new tokens, T = 4
(``DenoisingSchedule(steps=4, max_new_tokens=128, temperature=0.7, top_p=0.95)``), M = 3, lr 0.5;
EntRGi by default (``GradientGuidance(weight="entropy", inner_steps=3, lr=0.5)``).

Each method runs in a fresh child process (``--child``; the parent only builds the checkpoints).
The child loads the models, builds the ``GuidedDenoiser`` (vocabulary bridge included), reads its
resident memory (VmRSS, /proc/self/status) as the post-load baseline, runs ONE ``generate()`` on
all prompts in one batch -- no warm-up, the run is long, so the time includes first-call costs --
and reports the generation seconds, seconds per denoising step, the peak resident memory of the
child (``getrusage(RUSAGE_SELF).ru_maxrss`` x 1024, read at the end; it covers the whole child:
interpreter, libraries, models and the generation) and the increase of that peak over the
post-load VmRSS.

The ANALYTIC MINIMUM (bytes), from the shapes:

    guided: 3 x N x L x V x 4 + P + C      (phi + Adam m + Adam v in fp32 at step 0, all L masked)
    bon:    1 x N x L x V x 4 + P + C      (the fp32 logits)

with N = prompts x K, L = new tokens, V = the dLLM's logits width, P = the parameter bytes of
both models, C = --max-chunk-bytes when given and accepted by a constructor (else 0). Reported
beside it: ``x_min`` = measured peak / analytic minimum.

``--dllm-dtype bfloat16`` loads the dLLM in bf16 (the reward stays fp32), and ``--guidance-fp32 false``
runs ``GradientGuidance(fp32=False)``: phi, Adam's m and v in the dLLM's logits dtype, so with a bf16
dLLM the guided minimum becomes 3 x N x L x V x 2 (the bytes per element follow the logits the guidance
keeps: 4 with fp32 state, the dLLM's element size without).

``--max-chunk-bytes`` is passed as ``GradientGuidance(max_chunk_bytes=...)`` and
``GuidedDenoiser(..., max_chunk_bytes=...)`` only to the constructors whose signatures have that
keyword (checked at run time; the JSON says which did).

    python bench/speed/real_vocab.py                                       # EntRGi -> bench/speed/real_vocab.json
    python bench/speed/real_vocab.py --method bon expectation aps entrgi   # each in its own child
    python bench/speed/real_vocab.py --max-chunk-bytes 268435456 --out /tmp/rv_chunk.json
    python bench/speed/real_vocab.py --dllm-dtype bfloat16 --guidance-fp32 false --out bench/speed/real_vocab_bf16.json
    # smoke:
    python bench/speed/real_vocab.py --vocab 4096 --prompts 1 --k 2 --new-tokens 16 --steps 2 --out /tmp/rv.json
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HIDDEN, LAYERS, M, LR = 64, 2, 3, 0.5
WEIGHTS = {"expectation": "zero", "aps": "one", "entrgi": "entropy"}
GIB = 2**30


def _speed_run():
    """bench/speed/run.py as a module (tokenizers, checkpoints, prompts)."""
    spec = importlib.util.spec_from_file_location("bench_speed_run", HERE / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vmrss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _accepts(cls, keyword: str) -> bool:
    return keyword in inspect.signature(cls).parameters


def child(args: argparse.Namespace) -> None:
    """Load, build the denoiser, one generate(); write the measurements to args.child_out."""
    import gc
    import resource

    import torch

    from entrgi.engine.denoiser import GuidedDenoiser
    from entrgi.engine.guidance import GradientGuidance, NoGuidance
    from entrgi.engine.schedule import DenoisingSchedule

    speed = _speed_run()
    method = args.method[0]
    t0 = time.perf_counter()
    lm, reward = speed.load_models(Path(args.ckpt))
    if args.dllm_dtype != "float32":
        lm.model.to(getattr(torch, args.dllm_dtype))
    chunk_to = []
    if method == "bon":
        guidance = NoGuidance()
    else:
        kw = {}
        if args.max_chunk_bytes is not None and _accepts(GradientGuidance, "max_chunk_bytes"):
            kw["max_chunk_bytes"] = args.max_chunk_bytes
            chunk_to.append("GradientGuidance")
        guidance = GradientGuidance(
            weight=WEIGHTS[method], inner_steps=M, lr=LR, fp32=args.guidance_fp32 == "true", **kw
        )
    den_kw = {}
    if args.max_chunk_bytes is not None and _accepts(GuidedDenoiser, "max_chunk_bytes"):
        den_kw["max_chunk_bytes"] = args.max_chunk_bytes
        chunk_to.append("GuidedDenoiser")
    schedule = DenoisingSchedule(steps=args.steps, max_new_tokens=args.new_tokens, temperature=0.7, top_p=0.95)
    den = GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=args.k, seed=1, **den_kw)
    load_s = time.perf_counter() - t0
    prompts = speed.make_prompts(args.prompts)
    gc.collect()
    rss_load = _vmrss()

    start = time.perf_counter()
    den.generate(prompts)  # no warm-up: one call, all prompts in one batch
    gen_s = time.perf_counter() - start

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    params = sum(p.numel() * p.element_size() for model in (lm.model, reward.model) for p in model.parameters())
    Path(args.child_out).write_text(
        json.dumps(
            {
                "vocab_size": lm.vocab_size,
                "state_bytes": 4 if guidance.fp32_logits else torch.empty(0, dtype=lm.logits_dtype).element_size(),
                "param_bytes": params,
                "load_s": load_s,
                "generate_s": gen_s,
                "rss_after_load_bytes": rss_load,
                "peak_rss_bytes": peak,
                "max_chunk_bytes_passed_to": chunk_to,
                "denoiser_max_chunk_bytes": getattr(den, "max_chunk_bytes", None),
                "machine": {
                    "cpu_threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                    "python": platform.python_version(),
                },
            }
        )
    )


def analytic_minimum(method: str, n: int, length: int, vocab: int, params: int, chunk: int, state: int = 4) -> int:
    return (1 if method == "bon" else 3) * n * length * vocab * state + params + chunk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--method",
        nargs="+",
        choices=["bon", *WEIGHTS],
        default=["entrgi"],
        help="one or more; each runs in its own fresh child process",
    )
    ap.add_argument("--vocab", type=int, default=152053)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--k", type=int, default=4, help="trajectories per prompt")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--steps", type=int, default=4, help="denoising steps T")
    ap.add_argument(
        "--max-chunk-bytes",
        type=int,
        default=None,
        help="passed to GradientGuidance / GuidedDenoiser when their constructors accept it",
    )
    ap.add_argument("--dllm-dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--guidance-fp32", choices=["true", "false"], default="true", help="GradientGuidance(fp32=...)")
    ap.add_argument("--out", type=Path, default=HERE / "real_vocab.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    n = args.prompts * args.k
    rows: dict[str, dict] = {}
    machine = None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        _speed_run().save_models(root, args.vocab, HIDDEN, LAYERS, max_positions=max(256, args.new_tokens + 64))
        print(f"checkpoints built in {time.perf_counter() - t0:.1f} s", flush=True)
        for method in args.method:
            out = root / f"{method}.json"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                "--ckpt",
                str(root),
                "--child-out",
                str(out),
                "--method",
                method,
                "--vocab",
                str(args.vocab),
                "--prompts",
                str(args.prompts),
                "--k",
                str(args.k),
                "--new-tokens",
                str(args.new_tokens),
                "--steps",
                str(args.steps),
                "--dllm-dtype",
                args.dllm_dtype,
                "--guidance-fp32",
                args.guidance_fp32,
            ]
            if args.max_chunk_bytes is not None:
                cmd += ["--max-chunk-bytes", str(args.max_chunk_bytes)]
            rc = subprocess.run(cmd).returncode
            if rc != 0:  # e.g. -9: killed for memory
                rows[method] = {"error": f"child exited with {rc}"}
                print(f"{method}: child exited with {rc}", flush=True)
                continue
            c = json.loads(out.read_text())
            machine = c.pop("machine")
            chunk = args.max_chunk_bytes if c["max_chunk_bytes_passed_to"] else 0
            state = c["state_bytes"]
            minimum = analytic_minimum(method, n, args.new_tokens, c["vocab_size"], c["param_bytes"], chunk, state)
            row = {
                "generate_s": round(c["generate_s"], 2),
                "s_per_step": round(c["generate_s"] / args.steps, 2),
                "load_s": round(c["load_s"], 2),
                "peak_rss_bytes": c["peak_rss_bytes"],
                "rss_after_load_bytes": c["rss_after_load_bytes"],
                "peak_increase_bytes": c["peak_rss_bytes"] - c["rss_after_load_bytes"],
                "analytic_min_bytes": minimum,
                "analytic_terms": {
                    "vocab_tensors": (1 if method == "bon" else 3),
                    "vocab_tensor_bytes": n * args.new_tokens * c["vocab_size"] * state,
                    "param_bytes": c["param_bytes"],
                    "chunk_bytes": chunk,
                },
                "x_min": round(c["peak_rss_bytes"] / minimum, 2),
                "max_chunk_bytes_passed_to": c["max_chunk_bytes_passed_to"],
                "denoiser_max_chunk_bytes": c["denoiser_max_chunk_bytes"],  # its effective budget, if it has one
            }
            rows[method] = row
            print(
                f"{method}: generate {row['generate_s']:.2f} s ({row['s_per_step']:.2f} s/step), "
                f"peak RSS {row['peak_rss_bytes'] / GIB:.3f} GiB (+{row['peak_increase_bytes'] / GIB:.3f} GiB "
                f"over post-load {row['rss_after_load_bytes'] / GIB:.3f}), analytic min "
                f"{minimum / GIB:.3f} GiB = {row['analytic_terms']['vocab_tensors']} x N x L x V x {state} + params"
                f"{' + chunk' if chunk else ''} (N={n}, L={args.new_tokens}, V={c['vocab_size']}), "
                f"peak/min {row['x_min']:.2f}",
                flush=True,
            )
            if args.max_chunk_bytes is not None and not c["max_chunk_bytes_passed_to"]:
                print(f"{method}: --max-chunk-bytes not accepted by GradientGuidance or GuidedDenoiser; ignored")
    result = {
        "command": shlex.join(["python", "bench/speed/real_vocab.py", *sys.argv[1:]]),
        "setting": {
            "vocab": args.vocab,
            "prompts": args.prompts,
            "K": args.k,
            "N": n,
            "new_tokens": args.new_tokens,
            "T": args.steps,
            "M": M,
            "lr": LR,
            "temperature": 0.7,
            "top_p": 0.95,
            "hidden": HIDDEN,
            "layers": LAYERS,
            "dtype": "float32",
            "dllm_dtype": args.dllm_dtype,
            "guidance_fp32": args.guidance_fp32 == "true",
            "device": "cpu",
            "max_chunk_bytes": args.max_chunk_bytes,
            "measurement": (
                "one generate() on all prompts in one batch, no warm-up, in a fresh child process per "
                "method; peak = ru_maxrss x 1024 of the child at the end (whole process); increase = "
                "peak - VmRSS after loading the models and building the GuidedDenoiser"
            ),
            "analytic_min": (
                "c x N x L x V x b + P + C; c = 3 (phi, Adam m, Adam v at step 0) for guided methods, "
                "b = 4 (fp32 state) or the dLLM's element size (guidance fp32=false), "
                "1 (the logits) for bon; P = parameter bytes of both models; C = max_chunk_bytes when "
                "given and accepted by a constructor, else 0"
            ),
            "x_min": "peak_rss_bytes / analytic_min_bytes",
        },
        "machine": machine,
        "results": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
