"""Runbooks: diagnoses and fixes."""
