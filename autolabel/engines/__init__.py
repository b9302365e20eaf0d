"""Engines that run the annotation pipeline somewhere other than this process.

The local engine is :meth:`autolabel.pipeline.Annotator.annotate` itself. Other engines reuse
its two building blocks, :meth:`~autolabel.pipeline.Annotator.start_run` (create or check the
run under its lock) and :meth:`~autolabel.pipeline.Annotator.process` (one result per image,
writing nothing), so that every engine writes the same run.

* :mod:`autolabel.engines.ray_engine`: Ray Data actors on a Ray cluster (optional extra
  ``ray``; imported lazily).
"""

ENGINES = ("local", "ray")
"""Names accepted by ``autolabel annotate --engine``."""
