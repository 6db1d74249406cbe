"""WiFi2Cap: CSI to action captions (teacher, student, prefix LM, mirror consistency)."""
