"""CSI preprocessing: pure, vectorised NumPy/Torch functions over any leading axes."""
