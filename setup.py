"""Optional native build of the care-gap engine's pure modules (``PEERLINK_COMPILE=1``).

pyproject.toml holds the package metadata; this file only adds the mypyc extensions when
asked, so a plain ``pip install .`` needs no compiler.
"""

import os
import runpy

from setuptools import setup

ext_modules = []
if os.environ.get("PEERLINK_COMPILE") == "1":
    from mypyc.build import mypycify

    native = runpy.run_path("services/caregaps/native.py")
    ext_modules = mypycify(list(native["COMPILED_SOURCES"]), opt_level="3")

setup(ext_modules=ext_modules)
