"""What a person sees in the terminal: each log message once, no third-party tips, a summary at the end.

One real ``python -m entrgi.run +experiment=smoke`` (about 15 s on CPU; W&B offline, not silenced),
stdout and stderr merged in the order they were written, as in a terminal.
"""

import re
import subprocess
import sys
from collections import Counter

import pytest
from cli_runs import cli_env

HYDRA_LINE = re.compile(r"^\[[^\]]+\]\[[^\]]+\]\[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] - (?P<msg>.*)$")
PLAIN_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL): (?P<msg>.*)$")  # Lightning's own handler


def log_messages(output: str) -> list[str]:
    """The message of every log line (Hydra's or Lightning's format), timestamps and logger names dropped."""
    lines = re.split(r"[\r\n]+", output)
    return [m["msg"].strip() for m in (HYDRA_LINE.match(ln) or PLAIN_LINE.match(ln) for ln in lines) if m]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("console")
    out = root / "out"
    env = cli_env(silent=False)  # the default logger, not silenced: what a user sees
    proc = subprocess.run(
        [sys.executable, "-m", "entrgi.run", "+experiment=smoke", f"paths.output_dir={out}"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    return proc.stdout, out


def test_log_messages_parsed_from_both_formats():
    text = "[2026-01-01 10:00:00,1][a.b][INFO] - hello\nINFO: hello\nprompts: 50%\r[t][c][WARNING] - w\nplain"
    assert log_messages(text) == ["hello", "hello", "w"]


@pytest.mark.slow
def test_each_log_message_appears_once(smoke):
    output, _ = smoke
    messages = log_messages(output)
    assert any("GPU available" in m for m in messages)  # Lightning's useful INFO is kept ...
    repeated = {m: n for m, n in Counter(messages).items() if n > 1}
    assert not repeated, f"log lines printed more than once: {repeated}\n{output[-4000:]}"  # ... once


@pytest.mark.slow
def test_no_third_party_tips(smoke):
    output, _ = smoke
    tips = [ln for ln in re.split(r"[\r\n]+", output) if "Tip:" in ln or "litlogger" in ln or "litmodels" in ln]
    assert not tips, tips
    assert "LeafSpec" not in output  # torch's deprecation warning about Lightning's internals
    assert (
        "anonymous setting" not in output
    )  # wandb's warning on Lightning's anonymous=None (entrgi.pipeline.logs.WandbLogger)


@pytest.mark.slow
def test_summary_after_the_progress_bar(smoke):
    """Needs ``entrgi.pipeline.console.print_summary`` called at the end of ``pipeline.run``."""
    output, out = smoke
    tail = output[output.rfind("prompts:") :]  # after the last progress-bar refresh
    lines = tail.splitlines()
    assert any(ln.startswith("  Top@1 ") for ln in lines), tail
    assert any(ln.startswith("  Avg@N ") and "K=2" in ln for ln in lines), tail
    assert f"Outputs in {out}" in lines
    assert any(str(out / "generations.jsonl") in ln for ln in lines)
    assert f"Next: python -m entrgi.report {out}" in lines
