"""The recipes that trained the shipped testbed models (``python -m entrgi.train train=dllm|reward``).

``dllm``: the masked-diffusion objective for ``TinyDLMForMaskedDiffusion``. ``reward``: Bradley-Terry
on oracle-ranked responses for a tiny ``Qwen3ForSequenceClassification``, with the negative examples
of ``perturb``. ``common``: the held-out seed, the seeded loader, the optimizer and saving, shared by both.
Inference never imports this package; both sides share the pieces in ``entrgi.engine.models``
(``attention.bidirectional_inputs``, ``chat_template``).
"""
