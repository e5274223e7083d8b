"""The face path: detection, tracking, alignment, expression, smoothing, scene aggregate."""
