"""huggingface_hub's own test suite, run against the Hub emulator (``nox -s conformance``).

:mod:`conformance.sdist` finds the client's sdist in uv.lock, downloads and checks it; :mod:`conformance.run`
runs its tests through our pytest plugin, :mod:`conformance.plugin` (the emulator, the suite's users and
tokens, a network guard, the skip list of :mod:`conformance.skips`); :mod:`conformance.results` tallies
the outcomes per file and writes ``conformance/results.md``.
"""
