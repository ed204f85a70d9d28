"""The reference genome: contigs and coordinates, transcript models, protein knowledge."""
