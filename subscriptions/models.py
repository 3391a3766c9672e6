"""Subscription models: the binding of a deployment to a priced plan version."""
