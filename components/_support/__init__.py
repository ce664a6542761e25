"""Shared helpers of the component libraries; not a library itself (its name starts with
``_``, so it holds no components: the classes here are mixins and plain functions)."""
