"""Export for deployment, to run without rnnkit (docs/deployment.md): a language
model's step and sequence models as ONNX or TorchScript files with its vocabulary, or
a classifier's whole-sequence model as ONNX with its labels.

    from rnnkit.export import export_run
    result = export_run("runs/shakespeare", "onnx")  # -> runs/shakespeare/export/onnx/
"""

from rnnkit.export.classifier import ClassifierSequence
from rnnkit.export.formats import FORMATS, INSTALL_HINT
from rnnkit.export.modules import LMStep, StepLoop
from rnnkit.export.run_export import ExportResult, default_out_dir, export_run

__all__ = [
    "ClassifierSequence",
    "FORMATS",
    "INSTALL_HINT",
    "ExportResult",
    "LMStep",
    "StepLoop",
    "default_out_dir",
    "export_run",
]
