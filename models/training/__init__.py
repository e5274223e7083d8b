"""Training scripts for the models affectd ships (need the `train` extra and ../shared data)."""
