"""Subject access requests: the legal clock, workflow, tasks, bundles and delivery."""
