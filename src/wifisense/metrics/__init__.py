"""Caption metrics and localisation metrics."""
