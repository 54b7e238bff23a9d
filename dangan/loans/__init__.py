"""Borrowing (借阅): the loan ledger, physical custody, labels and reminders."""
