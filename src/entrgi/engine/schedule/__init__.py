"""Denoising schedules: timesteps, commit counts, confidence rules, token sampling."""

from entrgi.engine.schedule.confidence import ConfidenceRule, confidence_rules
from entrgi.engine.schedule.sampling import TokenSampler
from entrgi.engine.schedule.schedule import DenoisingSchedule, StepOutput

__all__ = ["ConfidenceRule", "DenoisingSchedule", "StepOutput", "TokenSampler", "confidence_rules"]
