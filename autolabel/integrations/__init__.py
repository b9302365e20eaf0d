"""Adapters that let labeling platforms call the pipeline, each speaking its platform's protocol.

Thin layers over :mod:`autolabel.pipeline`'s "images in, records out" API; nothing here knows
about run directories or the CLI:

- :mod:`autolabel.integrations.labelstudio`: a Label Studio ML backend (``autolabel serve
  labelstudio``);
- :mod:`autolabel.integrations.cvat`: a cvat-sdk auto-annotation function (``cvat-cli task
  auto-annotate ... --function-module autolabel.integrations.cvat``);
- :mod:`autolabel.integrations.fiftyone`: a FiftyOne model for ``apply_model``, and
  :mod:`autolabel.integrations.fiftyone_plugin`, an App operator;
- :mod:`autolabel.integrations.settings`: the preset, config, classes and overrides they share.
"""
