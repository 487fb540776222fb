"""Pure rules: which event tells whom what, and how it reads."""
