"""The reference genome as the other stages look it up: contig coordinates, transcript models and
protein knowledge."""
