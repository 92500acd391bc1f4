"""Paper-agnostic RL estimators that more than one paper uses, each exactly as the papers define it."""
