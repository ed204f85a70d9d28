"""Copy number from wide per-patient tables: one row per case (or slide), one ``<GENE>_cnv``
column per gene holding GISTIC 2 discrete values (-2..2), as in the TCGA tables MCAT ships
(cBioPortal-derived; several slide rows of a case repeat its values).

The rows become COPY_NUMBER_SCHEMA rows with source ``gistic``, exactly as a cBioPortal
``data_cna.txt`` of the same values would (oncoweave.variants.copy_number.read_gistic_table).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from oncoweave.core.errors import InputError
from oncoweave.variants.copy_number import COPY_NUMBER_GENES, GISTIC_CALLS, copy_number_rows

if TYPE_CHECKING:
    import pandas as pd

CNV_SUFFIX = "_cnv"


def cnv_genes(path: str | Path) -> list[str]:
    """The genes of a wide table's ``<GENE>_cnv`` columns, in file order."""
    import pandas as pd

    header = pd.read_csv(path, nrows=0).columns
    return [name.removesuffix(CNV_SUFFIX) for name in header if name.endswith(CNV_SUFFIX)]


def read_cnv_columns(path: str | Path, genes: tuple[str, ...] | None = COPY_NUMBER_GENES,
                     patient_column: str = "case_id") -> pd.DataFrame:
    """COPY_NUMBER_SCHEMA rows (patient = sample = ``patient_column``) of the ``<GENE>_cnv``
    columns of a CSV (gzip or not) for ``genes`` (None: every ``_cnv`` column; a listed gene
    without a column gives no rows). A value other than -2..2 (a blank is NA: no row) or two
    rows of one patient that disagree is an InputError naming the line and column."""
    import numpy as np
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, low_memory=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read the table ({err})", path=str(path)) from None
    if patient_column not in table:
        raise InputError(f"line 1: no '{patient_column}' column", path=str(path))
    columns = [name for name in table.columns if name.endswith(CNV_SUFFIX)
               and (genes is None or name.removesuffix(CNV_SUFFIX) in genes)]
    if not columns and genes is None:
        raise InputError(f"line 1: no <GENE>{CNV_SUFFIX} columns", path=str(path))
    values = table[columns].apply(lambda column: column.str.strip())
    allowed = np.isin(values.to_numpy(), [*map(str, GISTIC_CALLS), ""])
    if not allowed.all():
        row, column = map(int, np.argwhere(~allowed)[0])
        raise InputError(f"line {row + 2}, column '{columns[column]}': value "
                         f"'{values.iat[row, column]}' is not a GISTIC call (-2, -1, 0, 1, 2 or "
                         "blank)", path=str(path))
    values.insert(0, "patient", table[patient_column].str.strip())
    first_of_patient = ~values["patient"].duplicated()
    conflicting = values.groupby("patient", sort=False).transform("nunique") > 1
    if conflicting.to_numpy().any():
        row, column = map(int, np.argwhere(conflicting.to_numpy())[0])
        later = (~first_of_patient & (values["patient"] == values["patient"].iat[row])).to_numpy()
        raise InputError(f"line {int(later.argmax()) + 2}, column '{columns[column]}': "
                         f"patient {values['patient'].iat[row]} has two different values in "
                         "its rows", path=str(path))
    long = values[first_of_patient].melt(id_vars="patient", var_name="gene", value_name="value")
    long = long[long["value"] != ""]
    long["gene"] = long["gene"].str.removesuffix(CNV_SUFFIX)
    long["call"] = long["value"].astype(int).map(GISTIC_CALLS)
    return copy_number_rows(long.assign(sample=long["patient"]), "gistic")
