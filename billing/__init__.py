"""Billing: what each subscription owes per period, and the clock that closes periods."""
