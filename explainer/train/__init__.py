"""Fine-tuning an encoder for token classification (``explainer train``) and the deterministic split."""
