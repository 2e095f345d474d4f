"""Quantisation-aware training and int8 TFLite conversion (see the project's issues)."""
