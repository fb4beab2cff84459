"""The engine's one error tree; every message is meant for a person, not a programmer.

DreamError
├── PictureError            the picture cannot be used
│   ├── EmptyPicture        zero bytes
│   ├── NotAPicture         bytes that are no picture at all
│   ├── UnsupportedFormat   a picture, but not PNG/JPEG/WebP/GIF
│   ├── TruncatedPicture    cut off or corrupt
│   ├── PictureTooLarge     too many pixels, frames or bytes
│   ├── DecompressionBomb   a small file that would unpack to a huge picture
│   └── DecodeTimeout       unpacking ran past its time budget and was stopped
├── ParamsError             settings out of range (DreamParams, animation settings)
├── UnknownModel            no such model
├── UnknownLayer            no such layer or preset for a model
├── UnknownClass            no such ImageNet class
├── ModelUnavailable        weights cannot be loaded (no network, bad file)
├── BudgetExceeded          the job would take too long
└── DreamCancelled          the dream was cancelled
"""

from __future__ import annotations

__all__ = [
    "BudgetExceeded",
    "DecodeTimeout",
    "DecompressionBomb",
    "DreamCancelled",
    "DreamError",
    "EmptyPicture",
    "ModelUnavailable",
    "NotAPicture",
    "ParamsError",
    "PictureError",
    "PictureTooLarge",
    "TruncatedPicture",
    "UnknownClass",
    "UnknownLayer",
    "UnknownModel",
    "UnsupportedFormat",
]


class DreamError(Exception):
    """Base of every engine error; ``str(error)`` is a message for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PictureError(DreamError):
    """The picture cannot be used."""


class EmptyPicture(PictureError):
    """The file has no bytes."""


class NotAPicture(PictureError):
    """The bytes are not a picture."""


class UnsupportedFormat(PictureError):
    """A picture in a format the engine does not take."""


class TruncatedPicture(PictureError):
    """The picture is cut off or corrupt."""


class PictureTooLarge(PictureError):
    """Too many pixels, frames or bytes."""


class DecompressionBomb(PictureError):
    """A small file that would unpack into an enormous picture."""


class DecodeTimeout(PictureError):
    """Unpacking the picture ran past its time budget and was stopped."""


class ParamsError(DreamError):
    """A dream setting is out of range."""


class UnknownModel(DreamError):
    """No model of that name."""


class UnknownLayer(DreamError):
    """No layer or preset of that name for the model."""


class UnknownClass(DreamError):
    """No ImageNet class of that name or number."""


class ModelUnavailable(DreamError):
    """The model's weights cannot be loaded."""


class BudgetExceeded(DreamError):
    """The job would cost more than allowed."""


class DreamCancelled(DreamError):
    """The dream was cancelled before it finished."""
