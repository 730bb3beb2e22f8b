"""``python -m entrgi.train train=dllm|reward``: train the testbed's tiny models (the body:
:mod:`entrgi.pipeline.train`; the recipes: :mod:`entrgi.testbed.training`)."""

from entrgi.pipeline.train import main, train

__all__ = ["main", "train"]

if __name__ == "__main__":
    main()
