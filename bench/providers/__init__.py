"""Drop-in provider modules for the benchmarks (the registry skips files named with a leading underscore)."""
