"""Input and output: SBML, PEtab, tables, plots."""
