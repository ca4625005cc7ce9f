"""Deal definitions (SPEC §3): schema, cross-reference checks, loader and CLI."""

from ledger.deal.checks import Problem, cross_check
from ledger.deal.loader import (
    DealValidationError,
    content_hash,
    load_deal_text,
    parse_deal,
    validate_deal_file,
)
from ledger.deal.schema import DealDefinition, deal_json_schema

__all__ = [
    "DealDefinition",
    "DealValidationError",
    "Problem",
    "content_hash",
    "cross_check",
    "deal_json_schema",
    "load_deal_text",
    "parse_deal",
    "validate_deal_file",
]
