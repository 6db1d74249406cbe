"""Physically grounded simulators that write the same store real captures are ingested into."""
