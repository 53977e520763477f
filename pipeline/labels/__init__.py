"""Exchange wallet labels: a bundled list (see data/SOURCES.md) plus user CSV files merged on top."""

from pipeline.labels.store import (
    Label,
    LabelFileError,
    LabelStore,
    classify,
    labels_version,
    load_labels,
    read_label_csv,
)

__all__ = ["Label", "LabelFileError", "LabelStore", "classify", "labels_version", "load_labels", "read_label_csv"]
