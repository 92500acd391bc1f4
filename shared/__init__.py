"""Paper-agnostic utilities every paper may import: params, run context, tracking, checks' statistics."""
