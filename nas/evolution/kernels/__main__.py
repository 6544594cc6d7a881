"""`python -m nas.evolution.kernels`: compile every kernel into the cache now."""
from nas.evolution.kernels.warm import main

main()
