"""What every wing uses: devices, data, fan-out, statistics, plotting, files and seeds. Imports nothing else of
the package."""
