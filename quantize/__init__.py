"""Float -> full-int8 TFLite conversion with calibration and parity reports."""
