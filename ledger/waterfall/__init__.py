"""The waterfall engine (SPEC §3, issue 3): pure, deal-driven, fen-exact, double-entry."""

from events.cycle import CapUsage
from ledger.waterfall.engine import WaterfallError, posting_account, run_waterfall, select_mode
from ledger.waterfall.state import (
    NoteState,
    Purchase,
    StepResult,
    TriggerWatch,
    WaterfallResult,
    WaterfallState,
)
from ledger.waterfall.triggers import (
    TriggerOutcome,
    evaluate_trigger,
    evaluate_triggers,
    trigger_states,
    trigger_watches,
)

__all__ = [
    "CapUsage",
    "NoteState",
    "Purchase",
    "StepResult",
    "TriggerOutcome",
    "TriggerWatch",
    "WaterfallError",
    "WaterfallResult",
    "WaterfallState",
    "evaluate_trigger",
    "evaluate_triggers",
    "posting_account",
    "run_waterfall",
    "select_mode",
    "trigger_states",
    "trigger_watches",
]
