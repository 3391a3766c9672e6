"""The events feed: one ordered log of everything that happened (SPEC §7)."""
