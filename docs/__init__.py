"""Documentation helpers: pictures for the README, drawn by code."""
