"""Example factory workflows on a simulated plant."""
