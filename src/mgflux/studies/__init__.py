"""Studies: the questions asked of the model (sweeps, populations, the clinic's questions)."""
