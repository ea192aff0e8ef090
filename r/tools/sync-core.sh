#!/bin/sh
# Copies the C++ core library (../cpp/include and ../cpp/src) into
# src/rmlx-core so the package compiles it into its own shared object.
# Run from the package root. In a git checkout ../cpp exists and the copy is
# refreshed. In an unpacked source tarball ../cpp is absent and the copy made
# before `R CMD build` is used as it is.

if [ -d ../cpp/include ] || [ -d ../cpp/src ]; then
  rm -rf src/rmlx-core
  mkdir -p src/rmlx-core/include src/rmlx-core/src
  if [ -d ../cpp/include ]; then
    cp -R ../cpp/include/. src/rmlx-core/include/
  fi
  if [ -d ../cpp/src ]; then
    cp -R ../cpp/src/. src/rmlx-core/src/
  fi
  # Stale objects from an earlier in-place build must not enter the copy.
  find src/rmlx-core -name '*.o' -exec rm -f {} +
  echo "rmlx-core: copied the C++ core from ../cpp"
elif [ -d src/rmlx-core ]; then
  echo "rmlx-core: ../cpp not found; using the copy in src/rmlx-core"
else
  echo "rmlx-core: error: neither ../cpp nor src/rmlx-core found; run tools/sync-core.sh in a git checkout first" >&2
  exit 1
fi
