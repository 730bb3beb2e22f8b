"""Particles: resampling a prompt's K trajectories during denoising (none, or FK steering / reward SMC)."""

from entrgi.engine.particles.base import NoParticles, Particles, ParticleState
from entrgi.engine.particles.fk import FKSteering

__all__ = ["FKSteering", "NoParticles", "ParticleState", "Particles"]
