"""Calls from inputs to the variants table: checks, identity, classification, export, MAF."""
