"""Read models of the ledger: the tree, rosters, reports and audit trails, rebuilt from events."""

from projections.read_models import ReadModels, rebuild

__all__ = ["ReadModels", "rebuild"]
