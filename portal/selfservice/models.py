"""Models of this area (imported by portal.all_models)."""
