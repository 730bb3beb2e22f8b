"""Denoising schedules: timesteps, commit counts, confidence algorithms, token sampling."""

from entrgi.engine.schedule.confidence import CONFIDENCE
from entrgi.engine.schedule.sampling import TokenSampler
from entrgi.engine.schedule.schedule import DenoisingSchedule, StepOutput

__all__ = ["CONFIDENCE", "DenoisingSchedule", "StepOutput", "TokenSampler"]
