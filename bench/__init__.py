"""driftd's benchmark harness (not in the test suite): ``make bench`` or ``python -m bench``."""
