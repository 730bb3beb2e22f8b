"""Post-training on guided samples: the LightningModule, its prompt stream and evaluation, the job."""
