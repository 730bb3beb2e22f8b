"""The framework: Hydra configs become engine objects, Lightning runs them, results reach the run folder,
the console and W&B. ``phases.run(cfg)`` is one job (``python -m entrgi.run``)."""
