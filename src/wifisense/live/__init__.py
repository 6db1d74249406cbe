"""Live sensing: CSI read as it arrives (UDP, serial lines, standard input), ring buffers, and replay of captures."""
