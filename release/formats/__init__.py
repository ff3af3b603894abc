"""What a file is, told from its first bytes, and the checks of the formats the gate inspects.

- :mod:`release.formats.sniff` classifies a file by its content (whatever its name): a pickle,
  a zip holding pickles (torch's format) or a Keras model, a numpy array, GGUF, HDF5.
- :mod:`release.formats.gguf` checks a GGUF file's header and tensor table against its size.
- :mod:`release.formats.onnx` checks that an ONNX model's external data stays inside the release.
- :mod:`release.formats.keras` reports the Lambda layers of a Keras model, which are code.
- :mod:`release.formats.text` tells how the secret scan reads a file as text (UTF-8, UTF-16), or that it is binary.

Each check reads what it needs from the file (headers, tables, configurations), never tensor data,
and returns :class:`~release.errors.Finding` values; :mod:`release.gate` runs them.
"""
