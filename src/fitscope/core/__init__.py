"""The bottom training layer: it imports torch and :mod:`fitscope.config` only."""
