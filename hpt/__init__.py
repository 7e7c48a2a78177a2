"""hpt: the roof of the house: the `hpt` command line and the pipeline's step functions."""
