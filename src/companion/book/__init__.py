"""The machinery of the book, apart from the science: the command line, the chapter registry and its
presets, the runner (jupytext → papermill → claims), claims, the dashboard and the notebook runtime."""
