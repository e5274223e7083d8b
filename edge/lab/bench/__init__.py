"""`affectd bench …`: speed and memory, as ratios against a peer run side by side."""
