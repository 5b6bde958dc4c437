"""Privacy: erasure by any identifier, the suppression list, retention."""
