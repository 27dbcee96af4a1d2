"""cervix.v1: generated from protos/cervix/v1/*.proto by `make protos`. Do not edit."""
