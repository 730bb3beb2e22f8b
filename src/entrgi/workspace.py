"""``python -m entrgi.workspace --entity E --project P``: save a W&B workspace laid out for entrgi's keys
(the body: :mod:`entrgi.pipeline.workspace`)."""

from entrgi.pipeline.workspace import build_workspace, main

__all__ = ["build_workspace", "main"]

if __name__ == "__main__":
    main()
