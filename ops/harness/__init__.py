"""The fault-injection harness's parts; `ops/faults.py` runs it."""
