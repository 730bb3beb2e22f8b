"""No API key or token from the environment is written to configs, logs, run_info.json or W&B files."""

from cli_runs import run_cli

SECRETS = {
    "HF_TOKEN": "hf_FAKEtokenDoNotLeak0123456789",
    "HUGGING_FACE_HUB_TOKEN": "hf_FAKEhubTokenDoNotLeak98765",
    "WANDB_API_KEY": "0123456789abcdefFAKEwandbKeyDoNotLeak0123",
    "OPENAI_API_KEY": "sk-FAKEopenaiKeyDoNotLeak",
}


def test_fake_tokens_in_the_environment_appear_in_no_output(tmp_path):
    out = tmp_path / "run"
    # the default logger: W&B offline, writing its run files, metadata and logs under the output folder
    proc = run_cli(["+experiment=smoke", f"paths.output_dir={out}"], cwd=tmp_path, env_extra=SECRETS)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"config.yaml", "run_info.json", "metrics.json", "generations.jsonl", "run.log"} <= names
    assert any(p.suffix == ".wandb" for p in files) and any(p.name == "hydra.yaml" for p in files)
    for secret in SECRETS.values():
        assert secret not in proc.stdout + proc.stderr
        leaked = [str(p) for p in files if secret.encode() in p.read_bytes()]
        assert not leaked, (secret, leaked)
