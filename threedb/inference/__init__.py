"""Loading and running the model under test."""
