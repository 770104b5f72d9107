"""Finding content by meaning: embeddings, the local model, the exact index and its scan."""
