"""Prank and silent-call protection (issue 11): silent-call signals, strikes per caller
number, a per-region policy (warn, deprioritise, block with an escape key) and queue
priorities that put genuine emergencies first. See docs/prank.md."""
