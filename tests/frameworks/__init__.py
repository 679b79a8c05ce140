"""Framework suite (torch, jax, Keras 3, transformers 5): a package so its conftest never shadows the main suite's."""
