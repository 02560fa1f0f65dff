"""Models of this module arrive with its issue."""
