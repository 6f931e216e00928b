"""credit_grading: credit scoring and credit-classification supervision of enterprises.

The package imports nothing heavy at start-up; import the part you need::

    from credit_grading.config import load_config
    from credit_grading.registry import load_registry
    from credit_grading.synth import generate_registry
"""

from credit_grading.exceptions import CreditGradingError

__version__ = "0.1.0"

__all__ = ["CreditGradingError", "__version__"]
