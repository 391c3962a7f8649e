"""Where data comes from besides a record-level extract: NHS Digital's published measure files
(read into the engine's measures table) and the synthetic dataset generator (writes a dataset
folder in the input layout).
"""
