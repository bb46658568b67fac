"""Classifier-free-guidance fusion psi of the backbone and a reasoner's forecasts (SPEC section 6)."""
