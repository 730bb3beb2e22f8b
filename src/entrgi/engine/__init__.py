"""The engine: the guided denoising loop and what it drives (models, guidance, schedule).

Plain torch and transformers: never Hydra, OmegaConf, Lightning or another entrgi layer
(``tests/unit/test_house_rules.py`` derives the rule from this folder).
"""
