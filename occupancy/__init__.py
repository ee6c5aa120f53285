"""Bayesian multispecies occupancy (Rota et al. 2016) in PyMC that can use classifier output honestly.

Modules: `histories` (species x site x occasion arrays from record tables), `streams` (the four label
modes), `likelihoods` (per-state log-likelihood of each observation stream), `model` (the PyMC model),
`inference` (sampling, derived quantities, summary), `simulate`, `derived`, `summary`, `plots`,
`study` (config glue), `fit` (`python -m occupancy.fit`), `compare`. Torch-free. See docs/occupancy.md.
"""
