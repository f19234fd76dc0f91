"""Shipped scorecards (Decision 766, PAR Index component 7) as data files, installed with the package."""
