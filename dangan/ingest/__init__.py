"""Capture → text (pypdf / OCR) → classify and code → encrypt and store → index."""
