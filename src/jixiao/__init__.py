"""jixiao (绩效): validator and scorer for budget-performance self-evaluation workbooks."""

__version__ = "0.1.0"
