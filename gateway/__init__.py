"""Gateway: the public gRPC and HTTP API. DICOM ingestion, orchestration of the model services,
web page, metrics and audit log. Wire contract: protos/cervix/v1/gateway.proto."""
