"""Shared neural-network blocks used by both tasks."""
