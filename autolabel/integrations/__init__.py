"""Adapters that let labeling platforms call the pipeline, each speaking its platform's protocol.

Thin layers over :mod:`autolabel.pipeline`'s "images in, records out" API; nothing here knows
about run directories or the CLI:

- :mod:`autolabel.integrations.labelstudio`: a Label Studio ML backend (``autolabel serve
  labelstudio``).
"""
