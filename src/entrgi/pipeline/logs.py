"""One console line per log message, and no third-party product tips.

Importing ``lightning`` adds a ``StreamHandler`` ("INFO: ...") to the ``lightning`` logger while
letting records propagate, so under Hydra, whose root handler prints them too, every Lightning
INFO appears twice. Lightning also prints "💡 Tip: ... litlogger / litmodels" advertisements, and
torch warns about a deprecation inside Lightning's own code, which no user can act on.

``quiet_third_party_logs()`` (idempotent; ``python -m entrgi.run`` calls it once logging is set up):
- when the root logger has handlers (Hydra's console and job-log file), Lightning's loggers lose
  their own console handlers and propagate, so each message is printed once, in Hydra's format,
  and lands in the job's log file;
- Lightning's rank-zero loggers drop messages carrying a tip marker (other INFO and warnings stay);
- the ``LeafSpec`` deprecation warning torch raises from Lightning's internals is ignored.

``WandbLogger`` is Lightning's, less the ``anonymous`` argument Lightning always hands
``wandb.init``, on which wandb (0.31 here) warns "The anonymous setting has no effect ..." every run.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger

TIP_MARKERS = ("💡 Tip:", "💡 Tip ")
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")
RANK_ZERO_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
)
_INTERNAL_DEPRECATIONS = (r"`isinstance\(treespec, LeafSpec\)` is deprecated",)


class WandbLogger(LightningWandbLogger):
    """Lightning's WandbLogger without ``anonymous=None`` (``logger._target_: entrgi.pipeline.logs.WandbLogger``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)


class DropTips(logging.Filter):
    """Drops records whose message carries a product tip marker."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(marker in message for marker in TIP_MARKERS)


def _existing(name: str) -> logging.Logger | None:
    return logging.getLogger(name) if name in logging.root.manager.loggerDict else None


def quiet_third_party_logs() -> None:
    import lightning  # noqa: F401  (its import installs the handler removed below)

    if logging.getLogger().handlers:  # someone (Hydra) configured the root: it alone prints
        for logger in filter(None, map(_existing, LIGHTNING_LOGGERS)):
            for handler in list(logger.handlers):
                if type(handler) is logging.StreamHandler:  # console only; file handlers stay
                    logger.removeHandler(handler)
            logger.propagate = True
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropTips) for f in logger.filters):
            logger.addFilter(DropTips())
    for message in _INTERNAL_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)
