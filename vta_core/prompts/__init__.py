"""Prompt text, chat records and the strict answer parser."""
