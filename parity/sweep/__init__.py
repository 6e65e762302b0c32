"""Sweeps: one base scenario run over many configurations and seeds, cell by cell, on Dask.

:mod:`parity.sweep.spec` reads a sweep file and expands it into cells; :mod:`parity.sweep.cells`
runs one cell (in a worker) and stores it under its content hash; :mod:`parity.sweep.execute`
schedules the cells on a Dask cluster; :mod:`parity.sweep.aggregate` turns the cell directories
into one table (Parquet and CSV) and :mod:`parity.sweep.page` into an HTML page.

Importing this package imports neither Dask nor a framework; only running a sweep does.
"""
