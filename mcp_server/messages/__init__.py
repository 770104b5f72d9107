"""Campaign copy: what a variant is and the checks it passes, the offline writer and its
phrasebook, each channel's format, and the model-backed writer."""
