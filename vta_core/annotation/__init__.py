"""Statistics and technical indicators of every window, computed at once with numba kernels."""
