"""cervixai: cervical-cancer MR assessment (lesion contour, risks, survival) as gRPC services."""

__version__ = "0.1.0"
