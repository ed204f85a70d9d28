#!/usr/bin/env bash
# Set up oncoweave on a fresh Debian 12 machine: the bioinformatics tools from Debian packages and a
# virtual environment at .venv/ with the package installed editable. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

DEBIAN_PACKAGES=(bwa samtools bcftools tabix fastp mosdepth libhts-dev dwgsim freebayes chromium)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
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
# does not build); torch is pinned in the same command as monai, else pip takes a multi-GB CUDA build.
.venv/bin/python -m pip install -q numpy versioneer
.venv/bin/python -m pip install -q --no-build-isolation "pyradiomics==3.0.1"
.venv/bin/python -m pip install -q -e ".[qc,reports,slurm,test]" "torch==2.13.0"
# `snakemake --profile slurm` from anywhere: Snakemake looks bare profile names up in ~/.config/snakemake.
mkdir -p ~/.config/snakemake && ln -sfn "$PWD/profiles/slurm" ~/.config/snakemake/slurm
echo "setup: done ($(.venv/bin/snakemake --version | sed 's/^/snakemake /'), $(bcftools --version | head -1))"
