"""Denoising schedules: timesteps, commit counts, confidence algorithms, token sampling."""

from entrgi.schedule.confidence import CONFIDENCE
from entrgi.schedule.sampling import TokenSampler
from entrgi.schedule.schedule import DenoisingSchedule, StepOutput

__all__ = ["CONFIDENCE", "DenoisingSchedule", "StepOutput", "TokenSampler"]
