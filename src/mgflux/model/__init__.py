"""The model as data: formulas, units, the model file, the catalogue, scenarios, parameters and readouts."""
