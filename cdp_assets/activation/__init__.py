"""Activation: the customer 360 table, consent-checked audience exports and their files."""
