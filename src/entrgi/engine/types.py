"""Small value types shared by the engine, the data layer and the framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromptItem:
    """One prompt to respond to.

    ``sample_id`` is stable across runs (it keys randomness, outputs and resume);
    ``prompt`` is the user turn; ``system`` an optional system turn.
    """

    sample_id: str
    prompt: str
    system: str | None = None

    def messages(self) -> list[dict[str, str]]:
        msgs = [] if self.system is None else [{"role": "system", "content": self.system}]
        msgs.append({"role": "user", "content": self.prompt})
        return msgs
