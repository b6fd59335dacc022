"""Builds the optional compiled accelerators (src/sipwarden/*/_accel.pyx) beside the pure-Python code.

Everything else is in pyproject.toml. Without Cython or a C compiler the build goes on without the
extension (one line says so) and sipwarden runs its pure-Python reader: same events, slower.
"""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NOTE = "sipwarden: compiled reader not built ({}); the pure-Python reader will run (same events, slower)"


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install: a missing compiler leaves the pure-Python path."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # noqa: BLE001 - any build failure means: no extension
            print(NOTE.format(e), file=sys.stderr)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as e:  # noqa: BLE001
            print(NOTE.format(e), file=sys.stderr)


def extensions() -> list:
    try:
        from Cython.Build import cythonize

        return cythonize([Extension("sipwarden.parsers._accel", ["src/sipwarden/parsers/_accel.pyx"]),
                          Extension("sipwarden.pipeline._accel", ["src/sipwarden/pipeline/_accel.pyx"])],
                         compiler_directives={"language_level": 3}, quiet=True)
    except Exception as e:  # noqa: BLE001 - no Cython, or the .pyx did not translate
        print(NOTE.format(e), file=sys.stderr)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
