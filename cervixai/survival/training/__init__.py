"""Training of the survival models (scikit-learn, scikit-survival): never imported when serving."""
