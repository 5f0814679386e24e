"""`make bench`: the SDK's cost as ratios against baselines measured in the same run.

Run `python -m benchmarks --help`; see benchmarks/README.md for what each row means and how
to add one.
"""

__all__: list[str] = []
