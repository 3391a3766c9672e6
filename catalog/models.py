"""Catalog models: plans, plan versions and add-ons."""
