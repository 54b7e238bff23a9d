"""Retention schedules, appraisal, holds and destruction (later issue)."""
