"""Held-out judges: score finished responses after generation (never used for guidance).

``judge=oracle`` (testbed), ``judge=reward_model`` (any one-label reward model), ``judge=lmunit``
(natural-language unit tests, the paper's check); ``python -m entrgi.judge`` re-judges saved runs.
"""

from entrgi.judges.apply import judge_records, judge_summary, judges_summary, record_judges, record_messages
from entrgi.judges.base import Judge
from entrgi.judges.lmunit import LMUnitJudge
from entrgi.judges.oracle import OracleJudge
from entrgi.judges.reward_model import RewardModelJudge

__all__ = [
    "Judge",
    "LMUnitJudge",
    "OracleJudge",
    "RewardModelJudge",
    "judge_records",
    "judge_summary",
    "judges_summary",
    "record_judges",
    "record_messages",
]
