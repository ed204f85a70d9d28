#!/usr/bin/env bash
# Set up oncoweave on a fresh Debian 12 machine: the bioinformatics tools from Debian packages and a
# virtual environment at .venv/ with the package installed editable. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

# Each tool the rules run, as "command:Debian package". libhts-dev has no command: mosdepth needs its
# libhts.so, so it is checked through the package database (or the linker cache off Debian).
TOOLS=(bwa:bwa samtools:samtools bcftools:bcftools tabix:tabix bgzip:tabix fastp:fastp mosdepth:mosdepth
  dwgsim:dwgsim freebayes:freebayes chromium:chromium)

missing=()
for entry in "${TOOLS[@]}"; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
if command -v dpkg-query >/dev/null 2>&1; then
  dpkg-query -W -f='${Status}' libhts-dev 2>/dev/null | grep -q "ok installed" || missing+=(libhts-dev)
elif ! ldconfig -p 2>/dev/null | grep -q 'libhts\.so'; then
  missing+=(libhts-dev)
fi
# One package may stand for several commands (tabix gives tabix and bgzip).
mapfile -t missing < <(printf '%s\n' "${missing[@]+"${missing[@]}"}" | awk 'NF && !seen[$0]++')

if ((${#missing[@]})); then
  # Decide before creating anything: a login node without root must not get a half-made .venv.
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO="sudo"
    else
      echo "setup: missing ${missing[*]} and no root to install them: run 'apt-get install" \
        "${missing[*]}' as root, or load them from your system's modules, or run the workflow with" \
        "'--sdm conda' (envs/*.yaml hold each rule's tools); nothing was created" >&2
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing ${missing[*]} and this is not a Debian/Ubuntu machine (no apt-get): install" \
      "them with your system's packages or run the workflow with '--sdm conda' (envs/*.yaml);" \
      "nothing was created" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "setup: installing oncoweave and its Python dependencies into .venv"
# pyradiomics 3.0.1 has no wheel and its build needs numpy and versioneer from this venv (3.1.0's sdist
# does not build). With --no-build-isolation the build also uses this venv's setuptools and wheel, and the
# ones `python -m venv` gives (setuptools 65, no wheel) fail with "invalid command 'bdist_wheel'": pin both.
.venv/bin/python -m pip install -q "setuptools==80.9.0" "wheel==0.45.1" numpy versioneer
.venv/bin/python -m pip install -q --no-build-isolation "pyradiomics==3.0.1"
# torch is pinned in the same command as monai, else pip takes a multi-GB CUDA build.
.venv/bin/python -m pip install -q -e ".[qc,reports,slurm,test]" "torch==2.13.0"
# `snakemake --profile slurm` from anywhere: Snakemake looks bare profile names up in ~/.config/snakemake.
mkdir -p ~/.config/snakemake && ln -sfn "$PWD/profiles/slurm" ~/.config/snakemake/slurm
echo "setup: done ($(.venv/bin/snakemake --version | sed 's/^/snakemake /'), $(bcftools --version | head -1))"
