"""The statuses the classifier gives a call (the variants table's ``status`` column), and the
groups of them the later stages select by. Nothing imported: the command line and the lean
steps read these too."""

SOMATIC, GERMLINE, LOH, TUMOUR_ONLY = "somatic", "germline", "loh", "tumour_only"
STATUSES = (SOMATIC, GERMLINE, LOH, TUMOUR_ONLY)
# Calls the tumour carries (LOH: a germline variant whose other allele the tumour lost), and
# calls present in the germline.
TUMOUR_STATUSES = (SOMATIC, LOH, TUMOUR_ONLY)
GERMLINE_STATUSES = (GERMLINE, LOH)
