"""``python -m credit_grading.cli``: the same as the ``credit-grading`` command."""

from credit_grading.cli import main

main()
