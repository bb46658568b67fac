"""Learned time-series forecasters: one interface, one trainer (SPEC section 6).

Importing the package registers every model with `vta_core.models.base.REGISTRY`.
"""

from vta_core.models import calf, dlinear, tsmixer  # noqa: F401  (registration)
