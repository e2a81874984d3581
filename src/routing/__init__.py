"""Omnichannel order routing: which node ships each online order (issue 16)."""
