"""The waterfall engine (SPEC §3, issue 3): pure, deal-driven, fen-exact, double-entry."""

from ledger.waterfall.engine import WaterfallError, posting_account, run_waterfall, select_mode
from ledger.waterfall.state import NoteState, StepResult, WaterfallResult, WaterfallState

__all__ = [
    "NoteState",
    "StepResult",
    "WaterfallError",
    "WaterfallResult",
    "WaterfallState",
    "posting_account",
    "run_waterfall",
    "select_mode",
]
