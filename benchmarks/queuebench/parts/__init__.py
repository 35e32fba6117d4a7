"""The measured parts; each ``measure(bench, sizes)`` yields ``(result name, value)`` pairs."""
