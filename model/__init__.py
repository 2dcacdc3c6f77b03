"""Everything that touches torch: text in, a trained character LSTM and its recordings out; and the torch-free
run-directory contract (rundir.py, recording.py, errors.py) that viz/ reads through. Importing this package
does nothing: torch's settings are made where torch is set up (lstm.py)."""
