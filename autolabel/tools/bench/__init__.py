"""``autolabel bench``: the real pipeline's speed, per stage, with its memory and FLOP/s
(:mod:`.run`), how far the speed settings move results (:mod:`.agreement`), the run's size on
disk (:mod:`.runsize`) and every discovery method alone (:mod:`.discovery_timing`)."""

from autolabel.tools.bench.agreement import AgreementReport, CropAgreementReport, crop_agreement, precision_agreement
from autolabel.tools.bench.measure import count_flops, speedup_ceiling
from autolabel.tools.bench.run import BenchReport, run_bench, synthetic_images

__all__ = [
    "AgreementReport",
    "BenchReport",
    "CropAgreementReport",
    "count_flops",
    "crop_agreement",
    "precision_agreement",
    "run_bench",
    "speedup_ceiling",
    "synthetic_images",
]
