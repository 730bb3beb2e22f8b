"""Tiny checkpoints in the real formats, written to a temp dir (no downloads).

- a word-level dLLM tokenizer (ChatML template, ``<|mask|>``, eos = pad, like Dream);
- a BPE reward tokenizer trained on a corpus without the letter "z" (other ids, words split
  into pieces, unknown characters), so the vocabulary bridge sees exact, fallback and none;
- a tiny bidirectional dLLM saved with an ``auto_map`` to the project's modeling file;
- a tiny ``Qwen3ForSequenceClassification`` reward model;
- a tiny ``Qwen2ForCausalLM`` judge whose weights answer a chat the way LMUnit does (``{"score": d}``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForSequenceClassification

from entrgi.testbed.modeling_tiny_dllm import TinyDLMConfig, TinyDLMForMaskedDiffusion

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = (
    "the a cat dog sun rain good bad happy sad tree river bird song play run walk eat food music "
    "red blue green big small fast slow today night day love hate nice awful . , and or but "
    "zebra pizza jazz puzzle sunshine rainbow"
).split()
GOOD, BAD = "good", "bad"
ROLE_WORDS = ["user", "assistant", "system"]


def dllm_tokenizer() -> PreTrainedTokenizerFast:
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>", "<unk>"]
    vocab = {w: i for i, w in enumerate(specials + WORDS + ROLE_WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        mask_token="<|mask|>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        chat_template=CHATML,
    )


def word_tokenizer(words: list[str], mask: bool) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over ``words`` (plus specials and role words), any size: for
    checkpoints with a large vocabulary. ``mask``: with a ``<|mask|>`` token (a dLLM's)."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"] + (["<|mask|>"] if mask else [])
    vocab = {w: i for i, w in enumerate(dict.fromkeys(specials + ROLE_WORDS + list(words)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        mask_token="<|mask|>" if mask else None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        chat_template=CHATML,
    )


def reward_tokenizer() -> PreTrainedTokenizerFast:
    specials = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    corpus = [w for w in WORDS + ROLE_WORDS if "z" not in w and w not in ("sunshine", "rainbow")] * 5
    corpus += ["sun shine rain bow"] * 5  # pieces for the fallback; "sunshine" itself is absent
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.BPEDecoder()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>"],
        chat_template=CHATML,
    )


def save_dllm(path: Path, tokenizer=None, seed: int = 0, **config) -> Path:
    tokenizer = tokenizer or dllm_tokenizer()
    torch.manual_seed(seed)
    cfg = TinyDLMConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        mask_token_id=tokenizer.mask_token_id,
        **config,
    )
    TinyDLMForMaskedDiffusion(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


def save_reward(path: Path, tokenizer=None, seed: int = 0) -> Path:
    tokenizer = tokenizer or reward_tokenizer()
    torch.manual_seed(seed)
    cfg = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=256,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = Qwen3ForSequenceClassification(cfg)
    with torch.no_grad():  # a visible score scale for random weights
        model.score.weight.normal_(0.0, 1.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


# ----------------------------------------------------------------- judges
DIGIT_WORDS = [str(d) for d in range(10)]
# The tokens of an LMUnit answer, as Qwen2.5's tokenizer splits it: `{"` `score` `":` ` ` `4` `}`.
ANSWER_WORDS = ['{"', "score", '":', " ", "}"]
JUDGE_WORDS = ["Query:", "Response:", "Unit", "Test:", "Does", "response", "is", "it", "?"] + DIGIT_WORDS + ANSWER_WORDS
# The scripted judge's answer: input token -> next token(s) it pushes up. The generation prompt ends
# with "assistant"; the digit written is the model's own choice among "1".."5" (the scores LMUnit gives).
ANSWER_SCRIPT = {
    "assistant": ['{"'],
    '{"': ["score"],
    "score": ['":'],
    '":': [" "],
    " ": ["1", "2", "3", "4", "5"],
    **{d: ["}"] for d in DIGIT_WORDS},
    "}": ["<|endoftext|>"],
}


def causal_lm_tokenizer(words: list[str] | None = None) -> PreTrainedTokenizerFast:
    """A word-level ChatML tokenizer for a tiny judge LM; by default with single tokens "0".."9"
    and the tokens of an LMUnit answer (``ANSWER_WORDS``)."""
    return word_tokenizer(WORDS + (JUDGE_WORDS if words is None else list(words)), mask=False)


def _install_script(
    model, tokenizer, script: dict[str, list[str]], reserved: int = 8, gain: float = 10.0, spread: float = 0.3
) -> None:
    """Write ``script`` into a random Qwen2 causal LM's weights: after each input token of the script
    the listed tokens get some 30 logits more, the rest of the logits stay the random model's (so the
    choice among several listed tokens, e.g. the digit, depends on the context; ``spread`` scales
    those tokens' random logits, for a less peaked choice).

    How: the last ``reserved`` hidden dimensions carry a one-hot code of the script's input token
    from the embedding to the head untouched (no layer reads or writes them), and ``lm_head`` maps
    each code to its listed tokens."""
    vocab = tokenizer.get_vocab()
    sources = [s for s in script if s in vocab]
    groups: dict[tuple[str, ...], int] = {}  # inputs with the same targets share one code
    codes = {s: groups.setdefault(tuple(script[s]), len(groups)) for s in sources}
    if len(groups) > reserved:
        raise ValueError(f"the script needs {len(groups)} codes, more than reserved={reserved}")
    hidden = model.config.hidden_size
    keep = slice(0, hidden - reserved)  # the random model's dimensions
    code_dim = {s: hidden - reserved + c for s, c in codes.items()}
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        size = emb[:, keep].norm(dim=-1).mean()  # the code as large as a random embedding
        emb[:, hidden - reserved :] = 0.0
        for layer in model.model.layers:
            for lin in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                lin.weight[:, hidden - reserved :] = 0.0
            for lin in (layer.mlp.gate_proj, layer.mlp.up_proj):
                lin.weight[:, hidden - reserved :] = 0.0
            layer.self_attn.o_proj.weight[hidden - reserved :] = 0.0
            layer.mlp.down_proj.weight[hidden - reserved :] = 0.0
        model.lm_head.weight[:, hidden - reserved :] = 0.0
        choices = {t for s in sources if len(script[s]) > 1 for t in script[s] if t in vocab}
        for t in choices:
            model.lm_head.weight[vocab[t], keep] *= spread
        for s in sources:
            emb[vocab[s], code_dim[s]] = size
            for t in script[s]:
                if t in vocab:
                    model.lm_head.weight[vocab[t], code_dim[s]] = gain


def save_causal_lm(path: Path, tokenizer=None, seed: int = 0, script: bool | None = None) -> Path:
    """A tiny ``Qwen2ForCausalLM`` with its tokenizer (an LMUnit-like judge model).

    ``script`` (default: when the tokenizer has the tokens of ``ANSWER_WORDS``): the weights answer
    a chat's generation prompt the way LMUnit does, ``{"score": d}`` then eos (``ANSWER_SCRIPT``),
    with the digit d in "1".."5" chosen by the random rest of the model (so it depends on the input);
    everywhere else the model is a random causal LM. ``script=False``: random weights only."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = tokenizer or causal_lm_tokenizer()
    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():  # a visible spread of next-token probabilities for random weights
        model.lm_head.weight.normal_(0.0, 1.0)
    if script is None:
        script = all(w in tokenizer.get_vocab() for w in ANSWER_WORDS)
    if script:
        _install_script(model, tokenizer, ANSWER_SCRIPT)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)
