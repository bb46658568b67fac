"""LLM reasoner pi_theta: model loading, rewards, TRL configs, training stages and batched generation."""
