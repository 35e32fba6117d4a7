"""Task functions: module-level, importable by workers, taking small serializable arguments."""
