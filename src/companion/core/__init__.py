"""What every wing uses: devices, data, fan-out, statistics, plotting, files, seeds and small C kernels
compiled at first use (``ckernel``). Imports nothing else of the package."""
