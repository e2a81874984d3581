"""BentoML services (recommendations for marketers, reorder suggestions for planners)."""
