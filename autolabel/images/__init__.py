"""Image files: find the images of an input (:mod:`.listing`) and decode them (:mod:`.decoding`).

A foundation of the pipeline, the run lifecycle, previews and the tools; it needs PIL and numpy,
never torch (device pixels are made by :mod:`autolabel.pipeline.decode`).
"""

from autolabel.images.decoding import (
    DEVICE_MODES,
    JPEG_MAGIC,
    DecodedImage,
    EncodedJpeg,
    decode_image,
    decode_memory,
    header_pixels,
    header_size,
    read_encoded,
)
from autolabel.images.listing import IMAGE_EXTENSIONS, ImageSource, find_images, is_image_name

__all__ = [
    "DEVICE_MODES",
    "IMAGE_EXTENSIONS",
    "JPEG_MAGIC",
    "DecodedImage",
    "EncodedJpeg",
    "ImageSource",
    "decode_image",
    "decode_memory",
    "find_images",
    "header_pixels",
    "header_size",
    "is_image_name",
    "read_encoded",
]
