"""What every stage shares: typed result records, run options, whose-fault exceptions, escaping for every sink,
atomic files, portability, the environment's own failings and progress. Imports nothing above it."""
