"""The model services of cervixai: segmenter, classifier and survival, each a gRPC server."""
