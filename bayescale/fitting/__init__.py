"""From data to posterior: fit, fit_many / bootstrap, prior_predictive."""
